/**
 * A Redis Sentinel deployment of the test's own, on free ports: a primary, one replica and three
 * sentinels (each with a config file of its own, which it rewrites, in a temporary folder); or a
 * TLS primary and one TLS sentinel.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { waitFor } from './events';
import { freePort } from './fixture';
import { run, startChild, type Child } from './processes';
import { startProxy, type RedisProxy } from './proxy';
import { startRedis, type TestRedis } from './redis';
import { startTlsRedis, type TestCertificates, type TestTlsRedis } from './tls';

/** The primary's name, as the sentinels monitor it. */
export const PRIMARY_NAME = 'rooms-primary';
/** Sentinels judge the primary down after this long without an answer. */
const DOWN_AFTER_MS = 1000;
/** Also how long a sentinel waits before trying a failover that another sentinel started and gave up on (twice this). */
const FAILOVER_TIMEOUT_MS = 4000;
/** The sentinels meet through the primary's hello channel, every 2 s: allow a few rounds. */
const DISCOVERY_TIMEOUT_MS = 15_000;
/** Sentinels elect a leader, which promotes the replica: a split vote retries after 2 × FAILOVER_TIMEOUT_MS. */
const SWITCH_TIMEOUT_MS = 20_000;

export interface SentinelNode {
  host: string;
  port: number;
}

export interface TestSentinels {
  name: string;
  /** The sentinels, as `sails.config.rooms.sentinel.nodes` takes them. */
  nodes: SentinelNode[];
  /** The primary the sentinels started with, and its replica. */
  primary: TestRedis;
  replica: TestRedis;
  /** With `primaryBehindProxy`: the proxy through which the sentinels and the replica reach the primary. */
  primaryProxy?: RedisProxy;
  /**
   * Listens for `+switch-master` on every sentinel from now on; `switched` resolves with the time
   * (Date.now()) the first arrived and the new primary's port, or rejects after `timeoutMs`.
   */
  watchSwitch(timeoutMs?: number): Promise<{ switched: Promise<{ at: number; port: number }>; close(): void }>;
  /**
   * Makes the primary hang for `seconds` (DEBUG SLEEP): its connections stay open and nothing
   * answers on them, as with a paused machine, until the sentinels replace it.
   */
  hangPrimary(seconds: number): void;
  /** What a sentinel says about the primary's name (SENTINEL MASTER), as field → value. */
  primaryInfo(sentinel?: SentinelNode): Promise<Record<string, string>>;
  /**
   * Starts `node` again (after a kill) as a replica of the primary on `primaryPort`; resolves once
   * it has synced and every sentinel counts it as a replica that is up, or rejects after `timeoutMs`.
   */
  rejoinAsReplica(node: TestRedis, primaryPort: number, timeoutMs?: number): Promise<void>;
  /** Stops every process and removes the folder; safe to call twice. */
  stop(): Promise<void>;
}

/** `redis-cli`'s reply to a command that answers with field/value pairs, one per line. */
function pairs(output: string): Record<string, string> {
  const lines = output.trim().split('\n');
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < lines.length; i += 2) fields[lines[i]!] = lines[i + 1]!;
  return fields;
}

/** A sentinel monitoring the primary on `primaryPort`; `listen` replaces its plain `port` line (e.g. with TLS settings). */
async function startSentinel(dir: string, primaryPort: number, quorum = 2, listen = (port: number) => [`port ${port}`]): Promise<{ node: SentinelNode; child: Child }> {
  const port = await freePort();
  const file = path.join(dir, `sentinel-${port}.conf`);
  await writeFile(file, [
    ...listen(port),
    'bind 127.0.0.1',
    `dir ${dir}`,
    `sentinel monitor ${PRIMARY_NAME} 127.0.0.1 ${primaryPort} ${quorum}`,
    `sentinel down-after-milliseconds ${PRIMARY_NAME} ${DOWN_AFTER_MS}`,
    `sentinel failover-timeout ${PRIMARY_NAME} ${FAILOVER_TIMEOUT_MS}`,
    `sentinel parallel-syncs ${PRIMARY_NAME} 1`,
    '',
  ].join('\n'));
  const child = startChild('redis-server', [file, '--sentinel'], { name: `sentinel:${port}` });
  await child.waitForOutput(/\+monitor master/, 10_000);
  return { node: { host: '127.0.0.1', port }, child };
}

export interface SentinelOptions {
  /**
   * The sentinels and the replica reach the primary through a proxy (`primaryProxy`), so that a
   * test can cut it off from them while servers connected to it directly keep it (a split brain).
   */
  primaryBehindProxy?: boolean;
}

export async function startSentinels({ primaryBehindProxy = false }: SentinelOptions = {}): Promise<TestSentinels> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sails-hook-rooms-sentinel-'));
  const started: { primary?: TestRedis; replica?: TestRedis; proxy?: RedisProxy; sentinels: Child[] } = { sentinels: [] };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all([...started.sentinels.map((child) => child.stop()), started.primary?.stop(), started.replica?.stop(), started.proxy?.close()]);
    await rm(dir, { recursive: true, force: true });
  };

  const nodes: SentinelNode[] = [];
  const primaryInfo = async (sentinel = nodes[0]!) => pairs(await run('redis-cli', ['-p', String(sentinel.port), 'SENTINEL', 'MASTER', PRIMARY_NAME]));
  try {
    // Their own folder: a replica's sync writes the primary's data to a file. DEBUG SLEEP hangs the primary.
    // Either may be the primary a replica syncs from (after a failover): at once, not after the default 5 s.
    const syncAtOnce = ['--repl-diskless-sync-delay', '0'];
    const primary = started.primary = await startRedis(['--dir', dir, '--enable-debug-command', 'local', ...syncAtOnce]);
    const proxy = started.proxy = primaryBehindProxy ? await startProxy(primary.port) : undefined;
    // Where the sentinels and the replica reach the primary, and so the address the sentinels name.
    const primaryPort = proxy?.port ?? primary.port;
    const replica = started.replica = await startRedis(['--dir', dir, '--replicaof', '127.0.0.1', String(primaryPort), ...syncAtOnce]);
    // A sentinel learns of the replica from the primary's INFO, which lists it once it synced.
    await waitFor(async () => (await replica.command<string>('INFO', 'replication')).includes('master_link_status:up'), 'the replica to sync', 10_000);
    for (let i = 0; i < 3; i += 1) {
      const { node, child } = await startSentinel(dir, primaryPort);
      started.sentinels.push(child);
      nodes.push(node);
    }
    // A failover needs a majority that knows the replica and one another.
    await waitFor(async () => {
      for (const node of nodes) {
        const info = await primaryInfo(node);
        if (info['num-other-sentinels'] !== '2' || info['num-slaves'] !== '1') return false;
      }
      return true;
    }, 'every sentinel to know the replica and the two other sentinels', DISCOVERY_TIMEOUT_MS);

    return {
      name: PRIMARY_NAME,
      nodes,
      primary,
      replica,
      ...(proxy === undefined ? {} : { primaryProxy: proxy }),
      primaryInfo,
      async rejoinAsReplica(node, primaryPort, timeoutMs = SWITCH_TIMEOUT_MS) {
        const deadline = Date.now() + timeoutMs;
        await node.restart();
        await node.command('REPLICAOF', '127.0.0.1', String(primaryPort));
        // The sentinels may reconfigure it meanwhile, and close its clients' connections: a reset is no answer yet.
        await waitFor(async () => (await node.command<string>('INFO', 'replication').catch(() => '')).includes('master_link_status:up'),
          `the Redis on ${node.port} to sync from the primary on ${primaryPort}`, Math.max(0, deadline - Date.now()));
        const clients = nodes.map((sentinel) => new Redis({ ...sentinel, enableOfflineQueue: true, retryStrategy: () => null }));
        for (const client of clients) client.on('error', () => {});
        try {
          // Each sentinel lists it among the primary's replicas with no down flag ("slave", not "slave,s_down"). Its
          // link's status they learn from their next INFO to it, up to 10 s later: the replica's own INFO says it above.
          const listedUp = async (client: Redis) => {
            const replicas = await client.call('SENTINEL', 'REPLICAS', PRIMARY_NAME) as string[][];
            return replicas.map((fields) => pairs(fields.join('\n'))).some((replica) => replica.port === String(node.port) && replica.flags === 'slave');
          };
          await waitFor(async () => (await Promise.all(clients.map(listedUp))).every(Boolean),
            `every sentinel to count the Redis on ${node.port} as a replica that is up`, Math.max(0, deadline - Date.now()));
        } finally {
          for (const client of clients) client.disconnect();
        }
      },
      hangPrimary(seconds) {
        // Answered once the sleep is over, or the primary is stopped: nobody waits for it.
        primary.command('DEBUG', 'SLEEP', String(seconds)).catch(() => {});
      },
      async watchSwitch(timeoutMs = SWITCH_TIMEOUT_MS) {
        // Every sentinel announces the switch once it knows; the leader first, the others up to a hello period later.
        const clients = nodes.map((node) => new Redis({ ...node, lazyConnect: true, enableReadyCheck: false, retryStrategy: () => null }));
        let timer: NodeJS.Timeout | undefined;
        const close = () => {
          clearTimeout(timer);
          for (const client of clients) client.disconnect();
        };
        const switched = new Promise<{ at: number; port: number }>((resolve, reject) => {
          timer = setTimeout(() => reject(new Error(`no +switch-master from any sentinel within ${timeoutMs} ms`)), timeoutMs);
          for (const client of clients) {
            client.on('error', () => {});
            // "<name> <old ip> <old port> <new ip> <new port>"
            client.on('message', (_channel: string, message: string) => resolve({ at: Date.now(), port: Number(message.split(' ')[4]) }));
          }
        });
        switched.then(close, close);
        try {
          await Promise.all(clients.map(async (client) => {
            await client.connect();
            await client.subscribe('+switch-master');
          }));
        } catch (err) {
          close();
          throw err;
        }
        return { switched, close };
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface TestTlsSentinel {
  name: string;
  /** The sentinel, which speaks TLS only, as `sails.config.rooms.sentinel.nodes` takes it. */
  nodes: SentinelNode[];
  /** The primary, TLS on its `tlsPort` (which the sentinel names); no replica. */
  primary: TestTlsRedis;
  stop(): Promise<void>;
}

/** A TLS primary and one sentinel that speaks TLS only (to clients and to the primary), with `certs.server`'s certificate. */
export async function startTlsSentinel(certs: TestCertificates): Promise<TestTlsSentinel> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sails-hook-rooms-sentinel-tls-'));
  let primary: TestTlsRedis | undefined;
  let sentinel: Child | undefined;
  const stop = async () => {
    await Promise.all([sentinel?.stop(), primary?.stop()]);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    primary = await startTlsRedis(certs, { authClients: false });
    const started = await startSentinel(dir, primary.tlsPort, 1, (port) => [
      'port 0', `tls-port ${port}`, `tls-cert-file ${certs.server.certFile}`, `tls-key-file ${certs.server.keyFile}`,
      `tls-ca-cert-file ${certs.ca.certFile}`, 'tls-auth-clients no', 'tls-replication yes',
    ]);
    sentinel = started.child;
    return { name: PRIMARY_NAME, nodes: [started.node], primary, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
