/**
 * A fixture server in its own process with any `sails.config.rooms` (e.g. a `key`), which the
 * environment-configured startServer() of cluster.ts cannot set.
 */
import path from 'node:path';
import type { TestServer } from './cluster';
import { freePort } from './fixture';
import { startChild } from './processes';

const MAIN = path.resolve(__dirname, 'configured-server-main.js');

/** POSTs JSON to `baseUrl + route`; resolves with the status and the (JSON or text) body. */
export async function postJson<T = any>(baseUrl: string, route: string, body: Record<string, unknown>): Promise<{ status: number; body: T }> {
  const response = await fetch(baseUrl + route, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const isJson = response.headers.get('content-type')?.includes('json');
  return { status: response.status, body: isJson ? await response.json() : await response.text() };
}

/** Starts the fixture app in a child process with `rooms` as its sails.config.rooms. */
export async function startServerWithRooms(name: string, rooms: Record<string, unknown>): Promise<TestServer> {
  const port = await freePort();
  const child = startChild(process.execPath, [MAIN], {
    env: {
      ...process.env,
      PORT: String(port),
      SERVER_NAME: name,
      ROOMS_CONFIG: JSON.stringify(rooms),
      LOG_LEVEL: 'warn',
      // An unhandled rejection must end the server, so that a test sees it.
      NODE_OPTIONS: '--unhandled-rejections=strict',
    },
  });
  try {
    await child.waitForOutput(/listening on (http:\/\/\S+)/, 30_000);
  } catch (err) {
    await child.stop();
    throw err;
  }
  const url = `http://127.0.0.1:${port}`;
  return { name, url, child, post: (route, body) => postJson(url, route, body) };
}
