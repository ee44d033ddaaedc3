/** The soak's servers: the fixture app with the soak's debug route, each its own process, on one Redis. */
import path from 'node:path';
import { launch } from '../test/support/cluster';
import type { Child } from '../test/support/processes';

const MAIN = path.resolve(__dirname, 'server-main.js');

/** What an HTTP call gave: a status and body, or the reason there was none. */
export interface Answer<T = any> {
  status: number | null;
  body: T;
  /** Set when no HTTP answer came: a network error or the driver's own deadline. */
  error?: 'network' | 'deadline';
  detail?: string;
  ms: number;
}

/** What one server's debug route says about it (see server-main.js). */
export interface ServerState {
  server: string;
  pid: number;
  heapUsed: number;
  gcExposed: boolean;
  /** The Maps the hook's transport created at lift, by the name of their variable, and their sizes now. */
  maps: Array<{ name: string; site: string; size: number | null }>;
  sockets: number;
  rooms: number;
  resources: Record<string, number>;
  membership?: Record<string, string[]>;
}

export interface SoakServer {
  index: number;
  name: string;
  url: string;
  child: Child;
  /** False once the soak killed it. */
  alive: boolean;
  call<T = any>(method: 'GET' | 'POST', route: string, body?: Record<string, unknown>, deadlineMs?: number): Promise<Answer<T>>;
  state(query?: string): Promise<ServerState>;
}

export async function startSoakServer(index: number, redisUrl: string, timeoutMs: number): Promise<SoakServer> {
  const name = `server-${index + 1}`;
  const { url, child } = await launch(name, {
    REDIS_URL: redisUrl,
    ROOMS_TIMEOUT: String(timeoutMs),
    // An unhandled rejection ends the server, so that the soak sees it; heap figures after a full GC.
    NODE_OPTIONS: '--unhandled-rejections=strict --expose-gc',
  }, MAIN);
  const server: SoakServer = {
    index,
    name,
    url,
    child,
    alive: true,
    async call(method, route, body, deadlineMs = 30_000) {
      const started = performance.now();
      try {
        const response = await fetch(url + route, {
          method,
          headers: body ? { 'content-type': 'application/json' } : {},
          body: body ? JSON.stringify(body) : undefined,
          signal: AbortSignal.timeout(deadlineMs),
        });
        const text = await response.text();
        let parsed: unknown = text;
        if (response.headers.get('content-type')?.includes('json')) {
          try { parsed = JSON.parse(text); } catch { /* keep the text */ }
        }
        return { status: response.status, body: parsed as any, ms: performance.now() - started };
      } catch (err) {
        const timedOut = (err as Error).name === 'TimeoutError';
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        return {
          status: null,
          body: undefined as any,
          error: timedOut ? 'deadline' : 'network',
          detail: cause?.code ?? cause?.message ?? (err as Error).message,
          ms: performance.now() - started,
        };
      }
    },
    async state(query = '') {
      const answer = await server.call<ServerState>('GET', `/__soak/state${query}`);
      if (answer.status !== 200) throw new Error(`${name}: /__soak/state answered ${answer.status ?? answer.detail}`);
      return answer.body;
    },
  };
  return server;
}

/** Whether a server process is running and never reported an unhandled rejection or an uncaught exception. */
export function healthOf(server: SoakServer): { running: boolean; exit: string | null; unhandled: string[] } {
  const { exitCode, signalCode } = server.child.process;
  const unhandled = server.child.output().split('\n').filter((line) => /unhandled|uncaught/i.test(line));
  return { running: exitCode === null && signalCode === null, exit: exitCode !== null ? `code ${exitCode}` : signalCode, unhandled };
}
