/**
 * Whether the Redis this server is connected to is the primary the sentinels name (docs/partitions.md,
 * "Split brain"). A primary cut off from the sentinels and its replica goes on serving the servers
 * still connected to it, PUBLISH included (`min-replicas-to-write` stops writes, not PUBLISH): they
 * would hear their own heartbeats while the others moved to the promoted replica and fenced them.
 * So behind Sentinel a server counts on its connections only as long as a majority of the sentinels
 * listed, asked on every heartbeat, name the server both its connections are to, and none names another.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { createClient } from 'redis';
import type { ResolvedRoomsConfig } from '../../config';
import type { RoomsSentinelConfig, RoomsTlsOptions } from '../../types';
import { closeClient, isNodeRedis, type AnyRedisClient } from './clients';
import type { Clock } from './clock';

export interface PrimaryWatch {
  /**
   * clock.now() when the last round of questions that a majority confirmed, and none contradicted,
   * was sent; -Infinity if none was since the connections were last made.
   */
  confirmedAt(): number;
  /** Why the primary is not confirmed, for the logs. */
  reason(): string;
  /** Asks every sentinel now. */
  ask(): void;
  /** A connection was made again: what was confirmed was of the connections before. */
  reconnected(): void;
  /** `listener` is called whenever a round is confirmed. */
  onConfirmed(listener: () => void): void;
  /** Resolves once a round is confirmed; rejects with the reason after `timeoutMs`. */
  firstConfirmation(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface PrimaryWatchOptions {
  sentinel: RoomsSentinelConfig;
  tls?: RoomsTlsOptions;
  /** The two connections whose server must be the primary (ioredis clients: their `stream`). */
  connections: readonly AnyRedisClient[];
  clock: Clock;
  /** A majority names another primary: the connections should be made again, through the sentinels. */
  onReplaced(): void;
}

/**
 * The sentinels to ask: those of `sentinel`, or of the user's ioredis clients in Sentinel mode;
 * undefined for a Redis without Sentinel.
 */
export function sentinelsOf(config: ResolvedRoomsConfig, pub: AnyRedisClient): { sentinel: RoomsSentinelConfig; tls?: RoomsTlsOptions } | undefined {
  if (config.sentinel !== undefined) return { sentinel: config.sentinel, tls: config.tls };
  const options = isNodeRedis(pub) ? undefined : pub.options as Record<string, any> | undefined;
  if (!Array.isArray(options?.sentinels) || typeof options.name !== 'string') return undefined;
  const nodes = (options.sentinels as Array<{ host?: string; port?: number }>).map(({ host = 'localhost', port = 26379 }) => ({ host, port }));
  return {
    sentinel: {
      name: options.name,
      nodes,
      ...(options.sentinelUsername === undefined ? {} : { sentinelUsername: options.sentinelUsername }),
      ...(options.sentinelPassword === undefined ? {} : { sentinelPassword: options.sentinelPassword }),
      ...(typeof options.natMap === 'object' && options.natMap !== null ? { natMap: options.natMap } : {}),
    },
    ...(options.sentinelTLS === undefined ? {} : { tls: options.sentinelTLS }),
  };
}

/** A sentinel that has not answered within this long counts as not answering, for this round. */
const ANSWER_TIMEOUT_MS = 1000;
/** At lift, the sentinels are asked this often until a round is confirmed (their connections are new). */
const FIRST_ROUND_EVERY_MS = 100;

type Answer = { kind: 'same' } | { kind: 'other'; address: string } | { kind: 'none'; why: string };

/** An address as a socket reports it, IPv4-mapped IPv6 unwrapped. */
const plain = (address: string) => address.replace(/^::ffff:/, '');

export function watchPrimary({ sentinel, tls, connections, clock, onReplaced }: PrimaryWatchOptions): PrimaryWatch {
  // node-redis, whichever client the connections are: an ioredis client that reconnects while a
  // connection is accepted and dropped can say 'ready' on a closed stream, and never ask again.
  const sentinels = sentinel.nodes.map(({ host, port }) => {
    const client = createClient({
      username: sentinel.sentinelUsername,
      password: sentinel.sentinelPassword,
      disableOfflineQueue: true,
      commandOptions: { timeout: 0 },
      socket: {
        host,
        port,
        connectTimeout: ANSWER_TIMEOUT_MS,
        reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1000),
        ...(tls === undefined ? {} : { tls: true as const, ...tls }),
      },
    });
    // Unreachable sentinels are the case this watch is for: their errors say nothing more.
    client.on('error', () => {});
    client.connect().catch(() => {});
    return client;
  });
  const majority = Math.floor(sentinels.length / 2) + 1;
  let confirmedAt = -Infinity;
  let connectedAt = clock.now();
  let lastReason = 'the sentinels were not asked yet';
  let closed = false;
  let waiters: Array<() => void> = [];
  let onConfirmed = () => {};
  let replacedAt = -Infinity;

  /** `host:port` of the server both connections are to, or why there is none. */
  function connectedTo(): { address?: string; why?: string } {
    const addresses = new Set<string>();
    for (const client of connections) {
      const stream = client.stream as { remoteAddress?: string; remotePort?: number } | undefined;
      if (!stream?.remoteAddress || !stream.remotePort) return { why: 'a connection to Redis is not open' };
      addresses.add(`${plain(stream.remoteAddress)}:${stream.remotePort}`);
    }
    if (addresses.size > 1) return { why: `its connections are to different servers (${[...addresses].join(', ')})` };
    return { address: [...addresses][0] };
  }

  /** The addresses a sentinel's answer stands for, as ioredis would connect to it (through `natMap`). */
  async function addressesOf(host: string, port: number): Promise<string[]> {
    const mapped = sentinel.natMap?.[`${host}:${port}`] ?? { host, port };
    if (isIP(mapped.host) !== 0) return [`${plain(mapped.host)}:${mapped.port}`];
    const resolved = await lookup(mapped.host, { all: true });
    return resolved.map(({ address }) => `${plain(address)}:${mapped.port}`);
  }

  async function askOne(client: AnyRedisClient, address: string): Promise<Answer> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('no answer')), ANSWER_TIMEOUT_MS); });
    try {
      const reply = await Promise.race([client.sendCommand(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', sentinel.name]), late]) as [string, string] | null;
      if (!Array.isArray(reply)) return { kind: 'none', why: `knows no primary named '${sentinel.name}'` };
      const named = await addressesOf(reply[0], Number(reply[1]));
      return named.includes(address) ? { kind: 'same' } : { kind: 'other', address: `${reply[0]}:${reply[1]}` };
    } catch (err) {
      return { kind: 'none', why: err instanceof Error ? err.message : String(err) };
    } finally {
      clearTimeout(timer);
    }
  }

  async function round(): Promise<void> {
    const sentAt = clock.now();
    const { address, why } = connectedTo();
    if (address === undefined) {
      lastReason = why!;
      return;
    }
    const answers = await Promise.all(sentinels.map((client) => askOne(client, address)));
    // Made again since it was sent: this round was about the connections before.
    if (closed || sentAt < connectedAt) return;
    const same = answers.filter((a) => a.kind === 'same').length;
    const others = answers.flatMap((a) => (a.kind === 'other' ? [a.address] : []));
    if (same >= majority && others.length === 0) {
      if (sentAt > confirmedAt) confirmedAt = sentAt;
      for (const resolve of waiters.splice(0)) resolve();
      onConfirmed();
      return;
    }
    const listed = sentinels.length;
    lastReason = others.length > 0
      ? `${others.length} of the ${listed} sentinels name another primary (${[...new Set(others)].join(', ')}) than ${address}, which it is connected to`
      : `only ${same} of the ${listed} sentinels confirm ${address} as the primary '${sentinel.name}' (a majority must)`;
    // Made again at most once a round: ioredis may ask a sentinel that has not heard of the switch yet.
    if (others.length >= majority && sentAt - replacedAt >= ANSWER_TIMEOUT_MS) {
      replacedAt = sentAt;
      onReplaced();
    }
  }

  return {
    confirmedAt: () => confirmedAt,
    reason: () => lastReason,
    onConfirmed(listener) {
      onConfirmed = listener;
    },
    ask() {
      if (!closed) void round();
    },
    reconnected() {
      connectedAt = clock.now();
      confirmedAt = -Infinity;
      lastReason = 'its connection to Redis was made again and the sentinels were not asked yet';
      void round();
    },
    firstConfirmation(timeoutMs) {
      if (confirmedAt !== -Infinity) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const again = setInterval(() => void round(), FIRST_ROUND_EVERY_MS);
        const timer = setTimeout(() => {
          clearInterval(again);
          waiters = waiters.filter((waiter) => waiter !== done);
          reject(new Error(lastReason));
        }, timeoutMs);
        const done = () => {
          clearInterval(again);
          clearTimeout(timer);
          resolve();
        };
        waiters.push(done);
        void round();
      });
    },
    async close() {
      closed = true;
      await Promise.all(sentinels.map(closeClient));
    },
  };
}
