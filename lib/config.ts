import { RoomsError, describeValue } from './errors';
import type { PrometheusRegistryLike, RedisClientLike, RoomsConfig } from './types';

export type AdapterName = 'memory' | 'redis' | 'redis-sharded';

/** `sails.config.rooms` after validation: every default applied. */
export interface ResolvedRoomsConfig {
  adapter: AdapterName;
  url: string | undefined;
  pubClient: RedisClientLike | undefined;
  subClient: RedisClientLike | undefined;
  key: string;
  confirm: 'cluster' | 'local';
  timeout: number;
  metrics: { registry: PrometheusRegistryLike } | undefined;
}

export const DEFAULTS = {
  adapter: 'memory',
  key: 'socket.io',
  confirm: 'cluster',
  timeout: 5000,
} as const satisfies RoomsConfig;

const ADAPTERS: readonly AdapterName[] = ['memory', 'redis', 'redis-sharded'];
const CONFIRM_MODES = ['cluster', 'local'] as const;
const KNOWN_KEYS = ['adapter', 'url', 'pubClient', 'subClient', 'key', 'confirm', 'timeout', 'metrics'];
// setTimeout's own ceiling: a larger value would fire at once.
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

function invalid(key: string, received: unknown, fix: string): RoomsError {
  return new RoomsError(
    'E_INVALID_CONFIG',
    `sails.config.rooms.${key} is ${describeValue(received)}: ${fix} (config/rooms.js).`,
  );
}

function isRedisClient(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const client = value as Record<string, unknown>;
  // node-redis v4+ and ioredis both expose publish(); subscribers need one of the subscribe forms.
  return typeof client.publish === 'function'
    && (typeof client.subscribe === 'function' || typeof client.pSubscribe === 'function');
}

function isRegistry(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const registry = value as Record<string, unknown>;
  return ['getSingleMetric', 'removeSingleMetric', 'registerMetric'].every((method) => typeof registry[method] === 'function');
}

/** Redis URL with any password replaced, safe for logs and error messages. */
export function maskUrl(url: string): string {
  if (/^rediss?:\/\//.test(url)) {
    try {
      const parsed = new URL(url);
      if (parsed.password) parsed.password = '***';
      return parsed.toString();
    } catch {
      // Not parseable: mask by hand below.
    }
  }
  // Whatever stands before an '@' may be credentials.
  return url.replace(/^([^@/]*\/\/)?[^@/]*@/, '$1***@');
}

/** Validates `sails.config.rooms`; throws `E_INVALID_CONFIG` naming the first bad key. */
export function resolveConfig(raw: unknown): ResolvedRoomsConfig {
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new RoomsError('E_INVALID_CONFIG', `sails.config.rooms is ${describeValue(raw)}: export an object from config/rooms.js.`);
  }
  const config = raw as Record<string, unknown>;

  for (const key of Object.keys(config)) {
    // Sails itself stores `_hookTimeout` and similar private keys here.
    if (key.startsWith('_') || KNOWN_KEYS.includes(key)) continue;
    throw new RoomsError(
      'E_INVALID_CONFIG',
      `sails.config.rooms.${key} is not a setting of sails-hook-rooms: remove it, or use one of ${KNOWN_KEYS.join(', ')} (config/rooms.js).`,
    );
  }

  const adapter = config.adapter ?? DEFAULTS.adapter;
  if (!ADAPTERS.includes(adapter as AdapterName)) {
    throw invalid('adapter', adapter, `use ${ADAPTERS.map((a) => `'${a}'`).join(', ')}`);
  }

  const confirm = config.confirm ?? DEFAULTS.confirm;
  if (!CONFIRM_MODES.includes(confirm as 'cluster')) {
    throw invalid('confirm', confirm, "use 'cluster' (callbacks fire once every server applied the change) or 'local'");
  }

  const timeout = config.timeout ?? DEFAULTS.timeout;
  if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout <= 0 || timeout > MAX_TIMEOUT_MS) {
    throw invalid('timeout', timeout, `use a whole number of milliseconds between 1 and ${MAX_TIMEOUT_MS}`);
  }

  const key = config.key ?? DEFAULTS.key;
  if (typeof key !== 'string' || key === '') {
    throw invalid('key', key, "use a non-empty string, the same on every server (default 'socket.io')");
  }

  const { url, pubClient, subClient } = config;
  if (url !== undefined && (typeof url !== 'string' || !/^rediss?:\/\/./.test(url))) {
    throw invalid('url', typeof url === 'string' ? maskUrl(url) : url, "use a Redis URL such as 'redis://127.0.0.1:6379'");
  }
  for (const [name, client] of [['pubClient', pubClient], ['subClient', subClient]] as const) {
    if (client !== undefined && !isRedisClient(client)) {
      throw invalid(name, client, 'pass a connected node-redis (v4+) or ioredis client');
    }
  }
  if ((pubClient === undefined) !== (subClient === undefined)) {
    const missing = pubClient === undefined ? 'pubClient' : 'subClient';
    throw invalid(missing, undefined, 'pass both pubClient and subClient (two connections), or neither and set url');
  }

  const { metrics } = config;
  if (metrics !== undefined && !isRegistry((metrics as { registry?: unknown } | null)?.registry)) {
    throw invalid('metrics', metrics, "use { registry } with a prom-client Registry (e.g. require('prom-client').register), or leave it out");
  }

  if (adapter === 'memory') {
    const stray = url !== undefined ? 'url' : pubClient !== undefined ? 'pubClient' : undefined;
    if (stray) {
      throw new RoomsError(
        'E_INVALID_CONFIG',
        `sails.config.rooms.${stray} is set but sails.config.rooms.adapter is 'memory': set adapter to 'redis' to use Redis, or remove ${stray} (config/rooms.js).`,
      );
    }
  } else if (url === undefined && pubClient === undefined) {
    throw invalid('url', undefined, `adapter '${adapter}' needs Redis: set url (e.g. 'redis://127.0.0.1:6379') or pubClient and subClient`);
  } else if (url !== undefined && pubClient !== undefined) {
    throw invalid('url', maskUrl(url as string), 'set either url or pubClient/subClient, not both');
  }

  return {
    adapter: adapter as AdapterName,
    url: url as string | undefined,
    pubClient: pubClient as RedisClientLike | undefined,
    subClient: subClient as RedisClientLike | undefined,
    key,
    confirm: confirm as 'cluster' | 'local',
    timeout,
    metrics: metrics as ResolvedRoomsConfig['metrics'],
  };
}
