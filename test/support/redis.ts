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
/**
 * cluster-node-timeout: the nodes flag a silent node failing after this long (Redis' default is
 * 15 s); its replica is promoted 1-2 s later (measured here: 1.9-3.1 s after a SIGKILL).
 */
const CLUSTER_NODE_TIMEOUT_MS = 1000;
/** Well past a promotion on a loaded machine (a failed election is retried after twice the node timeout). */
const PROMOTION_TIMEOUT_MS = 15_000;

/** A node as the cluster sees it, from CLUSTER NODES. */
export interface ClusterNodeView {
  id: string;
  port: number;
  role: 'master' | 'slave';
  /** Flagged fail (or pfail) by the node asked. */
  failing: boolean;
  /** The ID of its primary, for a replica. */
  primaryId?: string;
  /** Slot ranges, for a primary: [first, last]. */
  slots: Array<[number, number]>;
}

/** One redis-server of a test Redis Cluster. */
export interface ClusterNode {
  port: number;
  /** Its cluster node ID (CLUSTER MYID), kept across restarts in its nodes.conf. */
  id: string;
  /** Whether its process runs (it was not killed, or was restarted since). */
  readonly running: boolean;
  /** SIGKILL, as a crash looks to the cluster and its clients. */
  kill(): Promise<void>;
  /** Starts it again with its nodes.conf: it rejoins, as a replica if another was promoted in its place. */
  restart(): Promise<void>;
  /** Runs one command on a short-lived connection. */
  command<T = unknown>(...args: string[]): Promise<T>;
}

export interface TestRedisCluster {
  /** URL of one node: cluster clients discover the others from it. */
  url: string;
  /** The URL of every node, for clients' root nodes. */
  urls: string[];
  nodes: ClusterNode[];
  /** The cluster-node-timeout every node runs with. */
  nodeTimeoutMs: number;
  /** The nodes as a running node sees them (CLUSTER NODES). */
  view(): Promise<ClusterNodeView[]>;
  /** The primary serving `slot`, as a running node sees it. */
  primaryOfSlot(slot: number): Promise<ClusterNode>;
  /** The primary serving the slot of `keyOrChannel` (CLUSTER KEYSLOT; a channel's slot is computed the same way). */
  primaryOf(keyOrChannel: string): Promise<ClusterNode>;
  /** The replica of `primary` (its first, if several). */
  replicaOf(primary: ClusterNode): Promise<ClusterNode>;
  /** The running nodes whose ROLE is `role`. */
  nodesWithRole(role: 'master' | 'slave'): Promise<ClusterNode[]>;
  /** The node listening on `port`. */
  nodeAt(port: number): ClusterNode;
  /**
   * Polls `replica`'s ROLE from now on: `promoted` resolves with the time (Date.now()) it first
   * said master, or rejects after `timeoutMs`.
   */
  watchPromotion(replica: ClusterNode, timeoutMs?: number): Promise<{ promoted: Promise<number>; close(): void }>;
  /** Resolves once every running node says cluster_state:ok, knows every node, and every running replica has synced. */
  waitUntilHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Replicas per primary (0: primaries only). */
  replicas?: number;
  nodeTimeoutMs?: number;
}

/** CLUSTER NODES' lines: "<id> <ip:port@bus> <flags> <primary id or -> <ping> <pong> <epoch> <link> <slots>…". */
function parseClusterNodes(text: string): ClusterNodeView[] {
  return text.trim().split('\n').filter(Boolean).map((line) => {
    const [id, address, flags, primaryId, , , , , ...slots] = line.trim().split(' ');
    const flagSet = new Set(flags!.split(','));
    return {
      id: id!,
      port: Number(address!.split('@')[0]!.split(':').pop()),
      role: flagSet.has('slave') ? 'slave' as const : 'master' as const,
      failing: flagSet.has('fail') || flagSet.has('fail?'),
      ...(primaryId === '-' ? {} : { primaryId }),
      // "[slot->-node]" entries are migrations in progress, not owned slots.
      slots: slots.filter((range) => !range.startsWith('[')).map((range) => {
        const [first, last = first] = range.split('-').map(Number);
        return [first!, last!] as [number, number];
      }),
    };
  });
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A Redis Cluster on free ports, in a temporary folder: `masters` primaries serving every slot,
 * each with `options.replicas` replicas, every node with `cluster-node-timeout` set explicitly.
 */
export async function startRedisCluster(masters = 3, options: ClusterOptions = {}): Promise<TestRedisCluster> {
  const { replicas = 0, nodeTimeoutMs = CLUSTER_NODE_TIMEOUT_MS } = options;
  const dir = await mkdtemp(path.join(tmpdir(), 'sails-hook-rooms-cluster-'));
  const nodes: ClusterNode[] = [];
  const children = new Map<number, Child>();
  const stop = async () => {
    await Promise.all([...children.values()].map((child) => child.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  const used = new Set<number>();
  const unusedPort = async () => {
    let port = await freePort();
    while (used.has(port)) port = await freePort();
    used.add(port);
    return port;
  };

  const startNode = async (port: number, busPort: number): Promise<ClusterNode> => {
    let child: Child | undefined;
    const start = async () => {
      child = startChild('redis-server', [
        '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
        // Explicit: the default (port + 10000) may be past 65535 for a free port.
        '--cluster-port', String(busPort),
        '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--dir', dir,
        '--cluster-node-timeout', String(nodeTimeoutMs),
        // A replica (a restarted node too) syncs at once, not after the default 5 s.
        '--repl-diskless-sync-delay', '0',
      ], { name: `redis:${port}` });
      children.set(port, child);
      await child.waitForOutput(/Ready to accept connections/, 10_000);
    };
    const command = async <T>(...args: string[]): Promise<T> => {
      const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: false, connectTimeout: 2000 } });
      client.on('error', () => {});
      await client.connect();
      try {
        return await client.sendCommand(args) as T;
      } finally {
        client.destroy();
      }
    };
    await start();
    const node: ClusterNode = {
      port,
      id: await command<string>('CLUSTER', 'MYID'),
      get running() {
        return child !== undefined && child.process.exitCode === null && child.process.signalCode === null;
      },
      kill: async () => { await child?.stop('SIGKILL'); },
      restart: start,
      command,
    };
    return node;
  };

  const running = () => nodes.filter((node) => node.running);
  const nodeAt = (port: number) => {
    const node = nodes.find((candidate) => candidate.port === port);
    if (!node) throw new Error(`no node of the test cluster listens on ${port}`);
    return node;
  };
  const view = async () => {
    for (const node of running()) {
      try {
        return parseClusterNodes(await node.command<string>('CLUSTER', 'NODES'));
      } catch {
        // Killed meanwhile: ask another.
      }
    }
    throw new Error('no node of the test cluster is running');
  };
  const primaryOfSlot = async (slot: number) => {
    const owner = (await view()).find((node) => node.role === 'master' && !node.failing && node.slots.some(([first, last]) => slot >= first && slot <= last));
    if (!owner) throw new Error(`no primary serves slot ${slot}`);
    return nodeAt(owner.port);
  };

  const waitUntilHealthy = async (timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const problems: string[] = [];
      for (const node of running()) {
        try {
          const info = await node.command<string>('CLUSTER', 'INFO');
          if (!info.includes('cluster_state:ok')) problems.push(`${node.port} is not ok`);
          const seen = parseClusterNodes(await node.command<string>('CLUSTER', 'NODES'));
          if (seen.length !== nodes.length || seen.some((other) => other.failing !== !nodeAt(other.port).running)) {
            problems.push(`${node.port} does not see every node as it is`);
          }
          // A primary killed and restarted comes back as a primary without slots, then turns
          // replica of its successor; the others learn that through gossip, a little later.
          if (seen.some((other) => other.role === 'master' && !other.failing && other.slots.length === 0)) {
            problems.push(`${node.port} sees a primary without slots (a restarted node not yet seen as a replica)`);
          }
          const replication = await node.command<string>('INFO', 'replication');
          if (replication.includes('role:slave') && !replication.includes('master_link_status:up')) problems.push(`${node.port} has not synced`);
        } catch (err) {
          problems.push(`${node.port}: ${(err as Error).message}`);
        }
      }
      if (problems.length === 0) return;
      if (Date.now() > deadline) throw new Error(`the test Redis Cluster was not healthy within ${timeoutMs} ms: ${problems.join('; ')}`);
      await pause(CLUSTER_POLL_MS);
    }
  };

  try {
    for (let i = 0; i < masters * (1 + replicas); i += 1) nodes.push(await startNode(await unusedPort(), await unusedPort()));
    // redis-cli picks which nodes are primaries, and gives each `replicas` of the others.
    await run('redis-cli', ['--cluster', 'create', ...nodes.map(({ port }) => `127.0.0.1:${port}`), '--cluster-replicas', String(replicas), '--cluster-yes']);
    // Every node must agree the cluster is up, and each replica hold its primary's data, before clients connect.
    await waitUntilHealthy();
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    url: `redis://127.0.0.1:${nodes[0]!.port}`,
    urls: nodes.map(({ port }) => `redis://127.0.0.1:${port}`),
    nodes,
    nodeTimeoutMs,
    view,
    primaryOfSlot,
    async primaryOf(keyOrChannel) {
      const [node] = running();
      return primaryOfSlot(Number(await node!.command<number>('CLUSTER', 'KEYSLOT', keyOrChannel)));
    },
    async replicaOf(primary) {
      const replica = (await view()).find((node) => node.primaryId === primary.id && !node.failing);
      if (!replica) throw new Error(`the primary on ${primary.port} has no replica`);
      return nodeAt(replica.port);
    },
    async nodesWithRole(role) {
      const roles = await Promise.all(running().map(async (node) => (await node.command<string[]>('ROLE'))[0]));
      return running().filter((_, i) => roles[i] === role);
    },
    nodeAt,
    async watchPromotion(replica, timeoutMs = PROMOTION_TIMEOUT_MS) {
      // One connection, polled: a short-lived one per poll would take longer than the poll interval.
      const client = createClient({ url: `redis://127.0.0.1:${replica.port}`, socket: { reconnectStrategy: false } });
      client.on('error', () => {});
      await client.connect();
      let watching = true;
      const close = () => {
        watching = false;
      };
      const promoted = (async () => {
        const deadline = Date.now() + timeoutMs;
        try {
          while (watching) {
            const [role] = await client.sendCommand(['ROLE']) as string[];
            if (role === 'master') return Date.now();
            if (Date.now() > deadline) throw new Error(`the replica on ${replica.port} was not promoted within ${timeoutMs} ms`);
            await pause(10);
          }
          throw new Error(`stopped watching the replica on ${replica.port} before it was promoted`);
        } finally {
          client.destroy();
        }
      })();
      // Read by the caller, or not at all if it stops watching first.
      promoted.catch(() => {});
      return { promoted, close };
    },
    waitUntilHealthy,
    stop,
  };
}
