/** A redis-server of the test's own, on a free port, that tests may stop and restart. */
import { createClient } from 'redis';
import { freePort } from './fixture';
import { startChild, type Child } from './processes';

export interface TestRedis {
  port: number;
  url: string;
  /** Kills the server at once (SIGKILL), as a crash or a network cut would look to clients. */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
  /** Stops it for good. */
  stop(): Promise<void>;
  /** Runs one command on a short-lived connection. */
  command<T = unknown>(...args: string[]): Promise<T>;
  /** Counts PUBLISH/SPUBLISH commands Redis executed since the last reset. */
  publishCount(): Promise<number>;
  resetStats(): Promise<void>;
}

export async function startRedis(extraArgs: string[] = []): Promise<TestRedis> {
  const port = await freePort();
  let server: Child | undefined;

  async function start() {
    server = startChild('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs]);
    await server.waitForOutput(/Ready to accept connections/, 10_000);
  }

  async function command<T>(...args: string[]): Promise<T> {
    const client = createClient({ url: `redis://127.0.0.1:${port}` });
    client.on('error', () => {});
    await client.connect();
    try {
      return await client.sendCommand(args) as T;
    } finally {
      await client.close();
    }
  }

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: async () => { await server?.stop('SIGKILL'); },
    restart: start,
    stop: async () => { await server?.stop(); },
    command,
    async publishCount() {
      const info = await command<string>('INFO', 'commandstats');
      let total = 0;
      for (const match of info.matchAll(/cmdstat_s?publish:calls=(\d+)/g)) total += Number(match[1]);
      return total;
    },
    resetStats: async () => { await command('CONFIG', 'RESETSTAT'); },
  };
}
