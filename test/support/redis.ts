/** A redis-server of the test's own, on a free port, that tests may stop and restart. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient } from 'redis';
import { freePort } from './fixture';
import { run, startChild, type Child } from './processes';

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
    server = startChild('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs], { name: `redis:${port}` });
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

const CLUSTER_POLL_MS = 50;

export interface TestRedisCluster {
  /** URL of one node: cluster clients discover the others from it. */
  url: string;
  stop(): Promise<void>;
}

/** A Redis Cluster of `masters` nodes (no replicas) on free ports, in a temporary folder. */
export async function startRedisCluster(masters = 3): Promise<TestRedisCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sails-hook-rooms-cluster-'));
  const nodes: Array<{ port: number; child: Child }> = [];
  const stop = async () => {
    await Promise.all(nodes.map(({ child }) => child.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i += 1) {
      const port = await freePort();
      const child = startChild('redis-server', [
        '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
        '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--dir', dir,
      ], { name: `redis:${port}` });
      nodes.push({ port, child });
      await child.waitForOutput(/Ready to accept connections/, 10_000);
    }
    await run('redis-cli', ['--cluster', 'create', ...nodes.map(({ port }) => `127.0.0.1:${port}`), '--cluster-yes']);
    // Every node must agree the cluster is up before clients connect.
    for (const { port } of nodes) {
      const deadline = Date.now() + 10_000;
      while (!(await run('redis-cli', ['-p', String(port), 'cluster', 'info'])).includes('cluster_state:ok')) {
        if (Date.now() > deadline) throw new Error(`Redis Cluster node ${port} never reported cluster_state:ok`);
        await new Promise((resolve) => setTimeout(resolve, CLUSTER_POLL_MS));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `redis://127.0.0.1:${nodes[0]!.port}`, stop };
}
