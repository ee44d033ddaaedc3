/**
 * Redis behind Sentinel (`sails.config.rooms.sentinel`): the hook's own two ioredis clients in
 * Sentinel mode. Each asks the sentinels for the primary whenever it connects, so after a failover
 * it reconnects to the promoted replica by itself; 'ready' means connected to a server that says it
 * is the primary (ioredis checks its role). ioredis is an optional peer, loaded only here.
 */
import type { RedisOptions } from 'ioredis';
import { RoomsError } from '../../errors';
import type { RoomsSentinelConfig, RoomsTlsOptions } from '../../types';
import type { AnyRedisClient } from './clients';

type Ioredis = typeof import('ioredis');

function loadIoredis(): Ioredis {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('ioredis') as Ioredis;
  } catch (err) {
    throw new RoomsError('E_INVALID_CONFIG', 'sails.config.rooms.sentinel is set, but ioredis cannot be loaded: '
      + '`npm install ioredis@5` in the app (config/rooms.js).', { cause: err });
  }
}

/** The sentinels and the primary's name, as lift errors name them (never a password). */
export function describeSentinels(sentinel: RoomsSentinelConfig): string {
  return `the sentinels ${sentinel.nodes.map(({ host, port }) => `${host}:${port}`).join(', ')} (primary '${sentinel.name}')`;
}

/**
 * The publishing and subscribing clients, not yet connected; throws E_INVALID_CONFIG if ioredis is
 * missing. `tls`, if given, applies to the sentinels and to Redis alike.
 */
export function createSentinelClients(sentinel: RoomsSentinelConfig, tls: RoomsTlsOptions | undefined, timeoutMs: number): { pub: AnyRedisClient; sub: AnyRedisClient } {
  const { Redis } = loadIoredis();
  const options: RedisOptions = {
    sentinels: sentinel.nodes.map(({ host, port }) => ({ host, port })),
    name: sentinel.name,
    username: sentinel.username,
    password: sentinel.password,
    sentinelUsername: sentinel.sentinelUsername,
    sentinelPassword: sentinel.sentinelPassword,
    db: sentinel.db ?? 0,
    ...(sentinel.natMap === undefined ? {} : { natMap: sentinel.natMap }),
    lazyConnect: true,
    // As with url: while disconnected, commands fail at once rather than wait for the reconnect.
    enableOfflineQueue: false,
    // A command written before a cut, re-sent after the reconnect, would reach the others after its
    // operation had failed, and after later ones: a failed change must never be applied later.
    autoResendUnfulfilledCommands: false,
    // The promoted primary is found at the first attempt after the switch: the cap bounds the recovery.
    retryStrategy: (attempts: number) => Math.min(50 * 2 ** attempts, 1000),
    // Only the sentinels listed, as the primary watch asks them (primary-watch.ts): those the
    // sentinels announce may be addresses of another network, or paths around a partition.
    updateSentinels: false,
    // Also hears +switch-master from the sentinels: leaves at once a replaced primary that still
    // holds the connection open (it hangs, or was demoted), instead of waiting for it to close.
    failoverDetector: true,
    // A sentinel or a primary that never answers is given up on within the lift's timeout.
    connectTimeout: Math.min(timeoutMs, 10_000),
    // Leaving a primary that hangs: its connection never closes, so it is destroyed this soon.
    disconnectTimeout: 200,
    ...(tls === undefined ? {} : { tls, enableTLSForSentinelMode: true, sentinelTLS: tls }),
  };
  const clients = { pub: new Redis(options), sub: new Redis(options) };
  for (const client of [clients.pub, clients.sub]) {
    // A +switch-master heard while the client is connecting ends it for good (ioredis 5.11): start it
    // again. closeClient() removes this listener before it ends the client itself.
    client.on('end', () => { client.connect().catch(() => {}); });
  }
  return clients;
}

/** What to check when the lift could not connect through the sentinels, given the last error the clients reported. */
export function sentinelFix(sentinel: RoomsSentinelConfig, lastError: unknown): string {
  // A sentinel that knows no such name answers nil: "… got an invalid reply: null" (ioredis).
  if (lastError instanceof Error && /No such master with that name|invalid reply: null/i.test(lastError.message)) {
    return `no sentinel knows a primary named '${sentinel.name}': set sails.config.rooms.sentinel.name to the name of `
      + "their 'sentinel monitor <name> …' line.";
  }
  return 'check sails.config.rooms.sentinel (nodes, name, passwords) and that the sentinels and Redis are running.';
}
