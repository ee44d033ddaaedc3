/** Several fixture Sails servers, each its own process, sharing one Redis. */
import path from 'node:path';
import { freePort } from './fixture';
import { startChild, type Child } from './processes';

const APP = path.resolve(__dirname, '../../fixtures/app/app.js');

export interface TestServer {
  name: string;
  url: string;
  child: Child;
  /** POSTs JSON to an action of this server; resolves with status and body. */
  post<T = any>(route: string, body: Record<string, unknown>): Promise<{ status: number; body: T }>;
}

/** POSTs JSON to `baseUrl + route`; resolves with the status and the (JSON or text) body. */
export async function postJson<T = any>(baseUrl: string, route: string, body: Record<string, unknown>): Promise<{ status: number; body: T }> {
  const response = await fetch(baseUrl + route, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const isJson = response.headers.get('content-type')?.includes('json');
  return { status: response.status, body: (isJson ? await response.json() : await response.text()) as T };
}

/**
 * Starts a server process, the fixture app's main (fixtures/app/app.js) unless `main` says
 * otherwise, with `env` over the test's own; resolves once it listens.
 */
export async function launch(name: string, env: Record<string, string>, main = APP): Promise<TestServer> {
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const child = startChild(process.execPath, [main], {
    name,
    env: {
      ...process.env,
      SERVER_NAME: name,
      LOG_LEVEL: 'warn',
      // An unhandled rejection must end the server, so that a test sees it.
      NODE_OPTIONS: '--unhandled-rejections=strict',
      ...env,
      PORT: String(port),
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

/** `extraEnv.PORT` picks the port (e.g. chosen beforehand to list the servers in CLUSTER_URLS); otherwise a free one. */
export function startServer(name: string, redisUrl: string, adapter = 'redis', extraEnv: Record<string, string> = {}): Promise<TestServer> {
  return launch(name, { ROOMS_ADAPTER: adapter, REDIS_URL: redisUrl, ...extraEnv });
}

/** Starts a server with `rooms` as its whole sails.config.rooms (e.g. with a `key`). */
export function startServerWithRooms(name: string, rooms: Record<string, unknown>): Promise<TestServer> {
  return launch(name, { ROOMS_CONFIG: JSON.stringify(rooms) });
}

export async function startCluster(count: number, redisUrl: string, adapter = 'redis', extraEnv: Record<string, string> = {}): Promise<TestServer[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => startServer(`server-${i + 1}`, redisUrl, adapter, extraEnv)));
}

/** Asserts a server process is still running and never reported an unhandled rejection or crash. */
export function assertHealthy(server: TestServer): void {
  const { exitCode, signalCode } = server.child.process;
  if (exitCode !== null || signalCode !== null) {
    throw new Error(`${server.name} exited (${exitCode ?? signalCode}); output:\n${server.child.output()}`);
  }
  if (/unhandled|UnhandledPromiseRejection|uncaught/i.test(server.child.output())) {
    throw new Error(`${server.name} reported an unhandled error:\n${server.child.output()}`);
  }
}

export async function stopCluster(servers: readonly TestServer[]): Promise<void> {
  await Promise.all(servers.map((server) => server.child.stop()));
}
