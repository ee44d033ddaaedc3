/** Real Sails request objects (`req`), captured from the app, for tests that pass them around. */
import http from 'node:http';
import type { TestClient } from './clients';
import { urlOf, type SailsTestApp } from './fixture';

const CAPTURE_PATH = '/test-support/capture-req';
const captures = new WeakMap<SailsTestApp, unknown[]>();

/** Binds (once per app) a route that keeps every `req` it receives. */
function captured(app: SailsTestApp): unknown[] {
  let reqs = captures.get(app);
  if (!reqs) {
    const list: unknown[] = [];
    reqs = list;
    captures.set(app, list);
    (app as unknown as { post(path: string, action: (req: unknown, res: { ok(): void }) => void): void })
      .post(CAPTURE_PATH, (req, res) => { list.push(req); res.ok(); });
  }
  return reqs;
}

/** The `req` of a plain HTTP request to the app (req.isSocket is not true). */
export function captureHttpRequest(app: SailsTestApp): Promise<any> {
  const reqs = captured(app);
  const before = reqs.length;
  return new Promise((resolve, reject) => {
    // No keep-alive agent: the connection must not outlive the request.
    const request = http.request(`${urlOf(app)}${CAPTURE_PATH}`, { method: 'POST', agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode !== 200 || reqs.length !== before + 1) reject(new Error(`capturing an HTTP req failed (status ${res.statusCode})`));
        else resolve(reqs[before]);
      });
    });
    request.on('error', reject);
    request.end();
  });
}

/** The `req` of a virtual request sent by `client` over its socket (req.isSocket === true). */
export async function captureSocketRequest(app: SailsTestApp, client: TestClient): Promise<any> {
  const reqs = captured(app);
  const before = reqs.length;
  const { statusCode } = await client.request('post', CAPTURE_PATH);
  if (statusCode !== 200 || reqs.length !== before + 1) throw new Error(`capturing a socket req failed (status ${statusCode})`);
  return reqs[before];
}
