import { createSecureContext } from 'node:tls';
import { RoomsError, describeValue } from './errors';
import type { PrometheusRegistryLike, RedisClientLike, RoomsConfig, RoomsSentinelConfig, RoomsTlsOptions } from './types';

export type AdapterName = 'memory' | 'redis' | 'redis-sharded';

/** `sails.config.rooms` after validation: every default applied. */
export interface ResolvedRoomsConfig {
  adapter: AdapterName;
  url: string | undefined;
  /** For the connections the hook makes; with a `url`, a rediss:// one. */
  tls?: RoomsTlsOptions;
  sentinel?: RoomsSentinelConfig;
  pubClient: RedisClientLike | undefined;
  subClient: RedisClientLike | undefined;
  key: string;
  confirm: 'cluster' | 'local';
  timeout: number;
  /** While this server cannot send to the cluster: fail cluster operations at once, or let them wait up to `timeout`. */
  whenRedisDown: 'fail' | 'wait';
  metrics: { registry: PrometheusRegistryLike } | undefined;
}

export const DEFAULTS = {
  adapter: 'memory',
  key: 'socket.io',
  confirm: 'cluster',
  timeout: 5000,
  whenRedisDown: 'fail',
} as const satisfies RoomsConfig;

const ADAPTERS: readonly AdapterName[] = ['memory', 'redis', 'redis-sharded'];
const CONFIRM_MODES = ['cluster', 'local'] as const;
const WHEN_REDIS_DOWN = ['fail', 'wait'] as const;
const KNOWN_KEYS = ['adapter', 'url', 'tls', 'sentinel', 'pubClient', 'subClient', 'key', 'confirm', 'timeout', 'whenRedisDown', 'metrics'];
// setTimeout's own ceiling: a larger value would fire at once.
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Throws E_INVALID_CONFIG naming the first key of `options` that is not one of `known`. */
function assertKnownKeys(options: object, known: readonly string[], path: string, what: string, ignored = (_key: string) => false): void {
  const unknown = Object.keys(options).find((key) => !known.includes(key) && !ignored(key));
  if (unknown === undefined) return;
  throw new RoomsError(
    'E_INVALID_CONFIG',
    `sails.config.rooms.${path}${unknown} is not ${what} of sails-hook-rooms: remove it, or use one of ${known.join(', ')} (config/rooms.js).`,
  );
}

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

const TLS_KEYS = ['ca', 'cert', 'key', 'servername', 'rejectUnauthorized'];

/** What is wrong with a PEM string or Buffer, if anything; a string that is no PEM is usually a file's path. */
function pemProblem(value: unknown, showValue: boolean): string | undefined {
  const isBuffer = Buffer.isBuffer(value);
  if (typeof value !== 'string' && !isBuffer) {
    // A private key is never shown, whatever it is.
    return `${showValue ? describeValue(value) : `a value of type ${value === null ? 'null' : typeof value}`}: use a PEM string or a Buffer`;
  }
  if ((value as string | Buffer).includes('-----BEGIN ')) return undefined;
  const shown = isBuffer ? `a Buffer of ${(value as Buffer).length} bytes` : showValue ? describeValue(value) : `a string of length ${(value as string).length}`;
  return `${shown}, not PEM: pass the file's contents (e.g. fs.readFileSync('/path/to/file.pem')), not its path`;
}

/** Validates `sails.config.rooms.tls`: only for connections the hook makes, and with a url only a rediss:// one. */
function resolveTls(tls: unknown, url: unknown, pubClient: unknown): RoomsTlsOptions | undefined {
  if (tls === undefined) return undefined;
  if (typeof tls !== 'object' || tls === null || Array.isArray(tls) || Buffer.isBuffer(tls)) {
    throw invalid('tls', tls, `use an object with any of ${TLS_KEYS.join(', ')}, e.g. { ca: fs.readFileSync('redis-ca.pem') }; a rediss:// url alone uses TLS with the system's CAs`);
  }
  if (pubClient !== undefined) {
    throw new RoomsError(
      'E_INVALID_CONFIG',
      'sails.config.rooms.tls is set with pubClient/subClient: tls applies only to the connections the hook makes (from url); '
        + "set TLS on your own clients (e.g. createClient({ url: 'rediss://…', socket: { ca } })) and remove tls (config/rooms.js).",
    );
  }
  if (typeof url === 'string' && !url.startsWith('rediss://')) {
    throw new RoomsError(
      'E_INVALID_CONFIG',
      `sails.config.rooms.tls is set but sails.config.rooms.url is ${maskUrl(url)}, without TLS: use a rediss:// URL for TLS, or remove tls (config/rooms.js).`,
    );
  }
  const options = tls as Record<string, unknown>;
  assertKnownKeys(options, TLS_KEYS, 'tls.', 'a TLS setting');
  const fail = (name: string, problem: string) => new RoomsError('E_INVALID_CONFIG', `sails.config.rooms.tls.${name} is ${problem} (config/rooms.js).`);
  const { ca, cert, key, servername, rejectUnauthorized } = options;
  if (ca !== undefined) {
    const all = Array.isArray(ca) ? ca : [ca];
    const problem = all.length === 0 ? 'an empty array: give at least one CA certificate, or leave ca out' : all.map((one) => pemProblem(one, true)).find(Boolean);
    if (problem) throw fail('ca', problem);
  }
  const certProblem = cert === undefined ? undefined : pemProblem(cert, true);
  if (certProblem) throw fail('cert', certProblem);
  const keyProblem = key === undefined ? undefined : pemProblem(key, false);
  if (keyProblem) throw fail('key', keyProblem);
  if ((cert === undefined) !== (key === undefined)) {
    throw fail(cert === undefined ? 'cert' : 'key', 'missing: a client certificate needs both tls.cert and tls.key');
  }
  if (servername !== undefined && (typeof servername !== 'string' || servername === '')) {
    throw fail('servername', `${describeValue(servername)}: use the host name Redis' certificate names, e.g. 'redis.example.com'`);
  }
  if (rejectUnauthorized !== undefined && typeof rejectUnauthorized !== 'boolean') {
    throw fail('rejectUnauthorized', `${describeValue(rejectUnauthorized)}: use true (the default) or false (any certificate, for tests only)`);
  }
  try {
    // Loaded now, a bad PEM or a key of another certificate fails here, not at every connection attempt.
    createSecureContext({ ca, cert, key } as RoomsTlsOptions);
  } catch (err) {
    const { reason, code } = err as Error & { reason?: string; code?: string };
    throw new RoomsError(
      'E_INVALID_CONFIG',
      `sails.config.rooms.tls could not be loaded (${reason ?? (err as Error).message}${code ? `, ${code}` : ''}): `
        + 'check that ca and cert hold PEM certificates and key the private key of cert (config/rooms.js).',
    );
  }
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as RoomsTlsOptions;
}

const SENTINEL_KEYS = ['name', 'nodes', 'password', 'username', 'sentinelPassword', 'sentinelUsername', 'db', 'natMap'];
const MAX_PORT = 65535;

/** Validates `sails.config.rooms.sentinel`; a password is never shown, whatever it is. */
function resolveSentinel(sentinel: unknown): RoomsSentinelConfig | undefined {
  if (sentinel === undefined) return undefined;
  const example = "{ name: 'mymaster', nodes: [{ host: '10.0.0.5', port: 26379 }] }";
  if (typeof sentinel !== 'object' || sentinel === null || Array.isArray(sentinel)) {
    throw invalid('sentinel', sentinel, `use an object such as ${example}`);
  }
  const options = sentinel as Record<string, unknown>;
  assertKnownKeys(options, SENTINEL_KEYS, 'sentinel.', 'a Sentinel setting');
  const { name, nodes, password, username, sentinelPassword, sentinelUsername, db, natMap } = options;
  if (typeof name !== 'string' || name === '') {
    throw invalid('sentinel.name', name, "use the primary's name, as in the sentinels' 'sentinel monitor <name> …' line");
  }
  if (!Array.isArray(nodes) || nodes.length === 0) {
    throw invalid('sentinel.nodes', nodes, `use an array of one or more sentinels' { host, port }, as in ${example}`);
  }
  const checked = nodes.map((node: unknown, i) => {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) {
      throw invalid(`sentinel.nodes[${i}]`, node, "use a sentinel's { host, port }, e.g. { host: '10.0.0.5', port: 26379 }");
    }
    const { host, port } = node as Record<string, unknown>;
    if (typeof host !== 'string' || host === '') {
      throw invalid(`sentinel.nodes[${i}].host`, host, "use a sentinel's host name or IP address, e.g. '10.0.0.5'");
    }
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > MAX_PORT) {
      throw invalid(`sentinel.nodes[${i}].port`, port, `use a sentinel's port, a whole number from 1 to ${MAX_PORT} (26379 by default)`);
    }
    return { host, port };
  });
  const checkedNatMap = resolveNatMap(natMap);
  for (const [key, value] of [['username', username], ['sentinelUsername', sentinelUsername]] as const) {
    if (value !== undefined && (typeof value !== 'string' || value === '')) throw invalid(`sentinel.${key}`, value, 'use an ACL user name, or leave it out');
  }
  for (const [key, value] of [['password', password], ['sentinelPassword', sentinelPassword]] as const) {
    if (value !== undefined && typeof value !== 'string') {
      throw new RoomsError('E_INVALID_CONFIG', `sails.config.rooms.sentinel.${key} is a value of type ${value === null ? 'null' : typeof value}: use a string, or leave it out (config/rooms.js).`);
    }
  }
  if (db !== undefined && (typeof db !== 'number' || !Number.isInteger(db) || db < 0)) {
    throw invalid('sentinel.db', db, 'use a database number, a whole number from 0 (the default)');
  }
  const resolved: RoomsSentinelConfig = { name, nodes: checked };
  for (const [key, value] of Object.entries({ password, username, sentinelPassword, sentinelUsername, db, natMap: checkedNatMap })) {
    if (value !== undefined) Object.assign(resolved, { [key]: value });
  }
  return resolved;
}

/** Validates `sentinel.natMap`: 'host:port' → { host, port }. */
function resolveNatMap(natMap: unknown): RoomsSentinelConfig['natMap'] {
  if (natMap === undefined) return undefined;
  const example = "{ '172.17.0.2:6379': { host: 'redis-1.example', port: 6379 } }";
  if (typeof natMap !== 'object' || natMap === null || Array.isArray(natMap)) throw invalid('sentinel.natMap', natMap, `use an object such as ${example}`);
  const checked: NonNullable<RoomsSentinelConfig['natMap']> = {};
  for (const [from, to] of Object.entries(natMap)) {
    if (!/^\S+:\d+$/.test(from)) {
      throw invalid(`sentinel.natMap key ${JSON.stringify(from)}`, from, `use 'host:port' as the sentinels name it, as in ${example}`);
    }
    const { host, port } = (typeof to === 'object' && to !== null ? to : {}) as Record<string, unknown>;
    if (typeof host !== 'string' || host === '' || typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > MAX_PORT) {
      throw invalid(`sentinel.natMap[${JSON.stringify(from)}]`, to, `use the { host, port } to connect to instead, as in ${example}`);
    }
    checked[from] = { host, port };
  }
  return checked;
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

  // Sails itself stores `_hookTimeout` and similar private keys here.
  assertKnownKeys(config, KNOWN_KEYS, '', 'a setting', (key) => key.startsWith('_'));

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

  const whenRedisDown = config.whenRedisDown ?? DEFAULTS.whenRedisDown;
  if (!WHEN_REDIS_DOWN.includes(whenRedisDown as 'fail')) {
    throw invalid('whenRedisDown', whenRedisDown, "use 'fail' (cluster operations fail at once with E_UNAVAILABLE while Redis is away) "
      + "or 'wait' (they wait up to timeout for it to come back)");
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

  const sentinel = resolveSentinel(config.sentinel);

  const { metrics } = config;
  if (metrics !== undefined && !isRegistry((metrics as { registry?: unknown } | null)?.registry)) {
    throw invalid('metrics', metrics, "use { registry } with a prom-client Registry (e.g. require('prom-client').register), or leave it out");
  }

  if (adapter === 'memory') {
    const stray = url !== undefined ? 'url' : sentinel !== undefined ? 'sentinel' : pubClient !== undefined ? 'pubClient' : config.tls !== undefined ? 'tls' : undefined;
    if (stray) {
      throw new RoomsError(
        'E_INVALID_CONFIG',
        `sails.config.rooms.${stray} is set but sails.config.rooms.adapter is 'memory': set adapter to 'redis' to use Redis, or remove ${stray} (config/rooms.js).`,
      );
    }
  } else if (url === undefined && pubClient === undefined && sentinel === undefined) {
    throw invalid('url', undefined, `adapter '${adapter}' needs Redis: set url (e.g. 'redis://127.0.0.1:6379'), sentinel, or pubClient and subClient`);
  } else if (url !== undefined && pubClient !== undefined) {
    throw invalid('url', maskUrl(url as string), 'set either url or pubClient/subClient, not both');
  } else if (sentinel !== undefined && (url !== undefined || pubClient !== undefined)) {
    const other = url !== undefined ? 'url' : 'pubClient/subClient';
    throw new RoomsError(
      'E_INVALID_CONFIG',
      `sails.config.rooms.sentinel is set with ${other}: the hook connects through the sentinels, so remove ${other}; `
        + 'or, for clients of your own in Sentinel mode, pass them as pubClient/subClient and remove sentinel (config/rooms.js).',
    );
  }
  const tls = resolveTls(config.tls, url, pubClient);

  return {
    adapter: adapter as AdapterName,
    url: url as string | undefined,
    tls,
    sentinel,
    pubClient: pubClient as RedisClientLike | undefined,
    subClient: subClient as RedisClientLike | undefined,
    key,
    confirm: confirm as 'cluster' | 'local',
    timeout,
    whenRedisDown: whenRedisDown as 'fail' | 'wait',
    metrics: metrics as ResolvedRoomsConfig['metrics'],
  };
}
