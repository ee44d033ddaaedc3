/** The driver's side of the bench servers: start them as child processes, send them commands. */
import path from 'node:path';
import { startChild, type Child } from '../../test/support/processes';
import type { ServerSpec } from './server-context';

const SERVER_MAIN = path.resolve(__dirname, '../server.ts');
const LIFT_TIMEOUT_MS = 60_000;

export interface ServerHandle {
  spec: ServerSpec;
  port: number;
  url: string;
  /** Runs a command of bench/server.ts there; resolves with its result. */
  call<T = unknown>(command: string, args?: unknown): Promise<T>;
  /** Everything it printed. */
  output(): string;
  stop(): Promise<void>;
}

type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string } | { ready: true; port: number };

const LIFT_ATTEMPTS = 3;

/**
 * Lifts a bench server. Its port is one found free just before it lifts (fixtures/free-port.js);
 * with a dozen servers lifting at once, another may take the same port first: that server then
 * exits with EADDRINUSE, and a new one is lifted in its place, on another port.
 */
export async function startServer(spec: ServerSpec): Promise<ServerHandle> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerOnce(spec);
    } catch (err) {
      if (attempt >= LIFT_ATTEMPTS || !String((err as Error).message).includes('EADDRINUSE')) throw err;
    }
  }
}

async function startServerOnce(spec: ServerSpec): Promise<ServerHandle> {
  // BENCH_CPU_PROF=<dir>: each server writes a CPU profile there when it stops (to find out why);
  // BENCH_CPU_PROF_INTERVAL=<µs> samples more often than every 1000 µs.
  const interval = process.env.BENCH_CPU_PROF_INTERVAL ? [`--cpu-prof-interval=${process.env.BENCH_CPU_PROF_INTERVAL}`] : [];
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF, ...interval] : [];
  const child: Child = startChild(process.execPath, [...profile, '--expose-gc', '--require', require.resolve('tsx/cjs'), SERVER_MAIN], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, BENCH_SERVER: JSON.stringify(spec), NODE_ENV: 'development' },
  });
  const pending = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>();
  let nextId = 1;
  let onReady: (port: number) => void = () => {};
  child.process.on('message', (reply: Reply) => {
    if ('ready' in reply) return onReady(reply.port);
    const waiter = pending.get(reply.id);
    pending.delete(reply.id);
    if (!waiter) return;
    if (reply.ok) waiter.resolve(reply.result);
    else waiter.reject(new Error(`${spec.name}: ${reply.error}`));
  });
  child.process.on('exit', (code, signal) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`${spec.name} exited (${code ?? signal}):\n${child.output()}`));
    pending.clear();
  });

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${spec.name} did not lift within ${LIFT_TIMEOUT_MS} ms:\n${child.output()}`)), LIFT_TIMEOUT_MS);
    onReady = (readyPort) => { clearTimeout(timer); resolve(readyPort); };
    child.process.once('exit', () => { clearTimeout(timer); reject(new Error(`${spec.name} exited while lifting:\n${child.output()}`)); });
  }).catch(async (err) => { await child.stop(); throw err; });

  return {
    spec,
    port,
    url: `http://127.0.0.1:${port}`,
    call<T>(command: string, args?: unknown) {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        // A case that ran out of time may still call a server stopped since: that is its error, not the driver's crash.
        if (!child.process.connected) return reject(new Error(`${spec.name} is stopped: cannot run ${command}`));
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
        child.process.send({ id, command, args }, (err) => {
          if (!err) return;
          pending.delete(id);
          reject(new Error(`${spec.name}: could not send ${command}: ${err.message}`));
        });
      });
    },
    output: () => child.output(),
    stop: () => child.stop(),
  };
}
