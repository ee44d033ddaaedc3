/**
 * The soak's servers: the fixture app with the soak's debug route, each its own process, on one
 * Redis (one of them through proxies, to be cut off: soak/deployment.ts), and what each says about its standing.
 */
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

/** A line the hook logged, and when the driver read it. */
export interface LoggedLine {
  at: number;
  text: string;
}

export interface SoakServer {
  index: number;
  name: string;
  url: string;
  child: Child;
  /** False once the soak killed it. */
  alive: boolean;
  /** The hook's log lines (sails-hook-rooms: …), in order. */
  said: LoggedLine[];
  call<T = any>(method: 'GET' | 'POST', route: string, body?: Record<string, unknown>, deadlineMs?: number): Promise<Answer<T>>;
  state(query?: string): Promise<ServerState>;
}

/** What the soak sets of each server's sails.config.rooms, beside Redis. */
export interface HookSettings {
  timeoutMs: number;
  /** Left out of the config when undefined. */
  whenRedisDown?: 'wait' | 'fail';
}

/** `redisEnv`: how it reaches Redis (soak/deployment.ts). */
export async function startSoakServer(index: number, redisEnv: Record<string, string>, hook: HookSettings): Promise<SoakServer> {
  const name = `server-${index + 1}`;
  const { url, child } = await launch(name, {
    ...redisEnv,
    ROOMS_TIMEOUT: String(hook.timeoutMs),
    ...(hook.whenRedisDown === undefined ? {} : { ROOMS_WHEN_REDIS_DOWN: hook.whenRedisDown }),
    // An unhandled rejection ends the server, so that the soak sees it; heap figures after a full GC.
    NODE_OPTIONS: '--unhandled-rejections=strict --expose-gc',
  }, MAIN);
  const said: LoggedLine[] = [];
  for (const stream of [child.process.stdout, child.process.stderr]) {
    let partial = '';
    stream?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop()!;
      const at = performance.now();
      for (const text of lines) if (text.includes('sails-hook-rooms:')) said.push({ at, text });
    });
  }
  const server: SoakServer = {
    index,
    name,
    url,
    child,
    alive: true,
    said,
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

/** What a server said when it came back from a partition (lib/transport/redis/standing.ts). */
export type Standing =
  /** It was fenced and applied its catch-up; `conflicts` sockets disconnected (a pair changed on both sides). */
  | { kind: 'caught up'; at: number; cutOffS: number; why: string; removals: number; takenOut: number; conflicts: number }
  /** It could not prove it was up to date and disconnected all its sockets. */
  | { kind: 'last resort'; at: number; cutOffS: number; why: string; disconnected: number };

const CAUGHT_UP = /cut off from the cluster for ([\d.]+) s \((.*)\) and fenced; it applied the (\d+) removal\(s\) confirmed without it \((\d+) membership\(s\) taken out\)(?: and disconnected (\d+) socket\(s\))?/;
const LAST_RESORT = /sails-hook-rooms: (.*)\. This server cannot prove it is up to date with the cluster after ([\d.]+) s cut off \((.*)\), so it disconnected its (\d+) socket\(s\)/;

/** The server's catch-ups and last resorts from `since` on. */
export function standingsOf(server: SoakServer, since = 0): Standing[] {
  const standings: Standing[] = [];
  for (const { at, text } of server.said) {
    if (at < since) continue;
    const caughtUp = CAUGHT_UP.exec(text);
    if (caughtUp) {
      standings.push({ kind: 'caught up', at, cutOffS: Number(caughtUp[1]), why: caughtUp[2]!, removals: Number(caughtUp[3]), takenOut: Number(caughtUp[4]), conflicts: Number(caughtUp[5] ?? 0) });
      continue;
    }
    const lastResort = LAST_RESORT.exec(text);
    if (lastResort) standings.push({ kind: 'last resort', at, cutOffS: Number(lastResort[2]), why: `${lastResort[1]} (${lastResort[3]})`, disconnected: Number(lastResort[4]) });
  }
  return standings;
}

/** Sockets a standing line says the server disconnected. */
export const disconnectedBy = (standing: Standing): number => (standing.kind === 'caught up' ? standing.conflicts : standing.disconnected);
