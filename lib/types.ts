import type { Server, Socket } from 'socket.io';
import type { RoomsError, RoomsErrorCode } from './errors';

/** What an operation did. */
export interface RoomsResult {
  /** Sockets the change was applied to, on every server that answered. */
  matched: number;
  /** Servers that answered, this one included. */
  servers: number;
  /** Socket IDs that were passed and are connected to no server of the cluster: every server answered, none holds them. */
  notFound: string[];
  /**
   * Socket IDs that were passed and are connected to no server that answered, while some server
   * is cut off from the cluster (fenced) and may hold them. A leave or removal is recorded for that
   * server and applied there before its sockets hear the cluster again (or they are disconnected);
   * a join did not reach them, and never will. See README, "Partitions".
   */
  unreachable: string[];
  /** Servers cut off from the cluster that the change may concern (a removal is recorded for them, a join or add does not reach them). */
  unreachableServers: number;
}

export type RoomsCallback = (err: RoomsError | null, result?: RoomsResult) => void;

/**
 * Anything that names a socket: a socket request `req`, a socket.io `Socket`, or a socket ID.
 * `isSocket` is a `boolean`: `if (!req.isSocket) return` cannot narrow a request whose `isSocket` is
 * a plain boolean, so whether it is `true` is checked at run time (`E_INVALID_SOCKET` if not).
 */
export type SocketLike = string | Socket | { isSocket: boolean; socket: Socket };
export type SocketsArg = SocketLike | readonly SocketLike[];
export type RoomsArg = string | readonly string[];

export interface LeaveAllOptions {
  /** Also leave each socket's own ID room (default `false`). */
  includeSocketRooms?: boolean;
  /** Also leave the source room itself (default `true`). */
  includeSourceRoom?: boolean;
}

export interface QueryOptions {
  /** Answer with what the servers that can answer know, even while a server is cut off from the cluster (default `false`). */
  partial?: boolean;
}

/** A connected client of node-redis (v4+) or ioredis; see README "Bring your own clients". */
export type RedisClientLike = object;

/** `sails.config.rooms` (`config/rooms.js`). */
export interface RoomsConfig {
  /** `'memory'` (one server), `'redis'`, or `'redis-sharded'` (Redis 7 sharded pub/sub). */
  adapter?: 'memory' | 'redis' | 'redis-sharded';
  /** Redis URL, for the redis adapters when no clients are given. */
  url?: string;
  /** TLS for the connections the hook makes (a `rediss://` `url`, or `sentinel`): a CA of your own, a client certificate. */
  tls?: RoomsTlsOptions;
  /** Redis behind Sentinel, instead of `url`: the hook's connections follow a failover (needs ioredis). */
  sentinel?: RoomsSentinelConfig;
  /** Your own connected publishing client; the hook never closes it. */
  pubClient?: RedisClientLike;
  /** Your own connected subscribing client; the hook never closes it. */
  subClient?: RedisClientLike;
  /** Channel prefix; every server of one cluster uses the same. */
  key?: string;
  /** `'cluster'`: callbacks fire once every server concerned applied the change; `'local'`: once applied here and sent. */
  confirm?: 'cluster' | 'local';
  /** Milliseconds to wait for other servers before failing with `E_TIMEOUT`. */
  timeout?: number;
  /**
   * While Redis is away (or this server checks whether it was cut off): `'fail'` (default) fails
   * cluster operations at once with `E_UNAVAILABLE`; `'wait'` keeps them, unsent, up to `timeout`
   * from the call, and sends them in order once it can (else `E_UNAVAILABLE`, never sent).
   */
  whenRedisDown?: 'fail' | 'wait';
  /** Prometheus metrics (`sails_rooms_*`) in a prom-client `Registry` of yours; prom-client must be installed. */
  metrics?: { registry: PrometheusRegistryLike };
}

/**
 * `sails.config.rooms.tls`, passed to Node's `tls.connect()`: certificates and keys are PEM, as
 * strings or Buffers (e.g. `fs.readFileSync()`), not file paths.
 */
export interface RoomsTlsOptions {
  /** The CA certificate(s) Redis' certificate must be signed by, instead of the system's. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** A client certificate, for a Redis with `tls-auth-clients yes`; needs `key`. */
  cert?: string | Buffer;
  /** The private key of `cert`. */
  key?: string | Buffer;
  /** The host name Redis' certificate must name, when it is not the host of `url`. */
  servername?: string;
  /** `false` accepts any certificate, a man in the middle's too: for tests only (default `true`). */
  rejectUnauthorized?: boolean;
}

/** `sails.config.rooms.sentinel`: where the sentinels are, and which primary of theirs to use. */
export interface RoomsSentinelConfig {
  /** The primary's name, as in the sentinels' `sentinel monitor <name> …`. */
  name: string;
  /**
   * Every sentinel: a server counts on its connections only while a majority of those listed name
   * the primary they are connected to (a primary cut off from the others is not followed).
   */
  nodes: Array<{ host: string; port: number }>;
  /** Redis' password (`requirepass`, or the ACL user's), on the primary and the replicas alike. */
  password?: string;
  /** Redis' ACL user (default: `default`). */
  username?: string;
  /** The sentinels' own password (`requirepass` in sentinel.conf), if they have one. */
  sentinelPassword?: string;
  /** The sentinels' own ACL user. */
  sentinelUsername?: string;
  /** The database number (default 0). It does not separate two clusters: Redis pub/sub ignores it. */
  db?: number;
  /**
   * Where to connect instead of an address the sentinels name, for Redis behind NAT (e.g. in
   * Docker): `{ '172.17.0.2:6379': { host: 'redis-1.example', port: 6379 } }`, as ioredis' `natMap`.
   */
  natMap?: Record<string, { host: string; port: number }>;
}

/** A prom-client `Registry` (typed loosely, so that prom-client stays optional). */
export interface PrometheusRegistryLike {
  getSingleMetric(name: string): unknown;
  removeSingleMetric(name: string): void;
  registerMetric(metric: never): void;
}

/** The operations `sails.sockets` gets from this hook (callback or promise). */
export interface RoomsSocketsMethods {
  leave(socket: SocketsArg, roomName: RoomsArg): Promise<RoomsResult>;
  leave(socket: SocketsArg, roomName: RoomsArg, cb: RoomsCallback): void;
  join(socket: SocketsArg, roomName: RoomsArg): Promise<RoomsResult>;
  join(socket: SocketsArg, roomName: RoomsArg, cb: RoomsCallback): void;
  leaveAll(sourceRoom: string, options?: LeaveAllOptions): Promise<RoomsResult>;
  leaveAll(sourceRoom: string, cb: RoomsCallback): void;
  leaveAll(sourceRoom: string, options: LeaveAllOptions, cb: RoomsCallback): void;
  addRoomMembersToRooms(sourceRoom: string, destRooms: RoomsArg): Promise<RoomsResult>;
  addRoomMembersToRooms(sourceRoom: string, destRooms: RoomsArg, cb: RoomsCallback): void;
  removeRoomMembersFromRooms(sourceRoom: string, destRooms: RoomsArg): Promise<RoomsResult>;
  removeRoomMembersFromRooms(sourceRoom: string, destRooms: RoomsArg, cb: RoomsCallback): void;
}

/** `sails.sockets` with this hook installed (the other methods are sails-hook-sockets' own). */
export interface RoomsSockets extends RoomsSocketsMethods {
  broadcast(roomNames: RoomsArg, eventName: string, data?: unknown, socketToOmit?: unknown): void;
  broadcast(roomNames: RoomsArg, data: unknown): void;
  blast(eventName: string, data?: unknown, socketToOmit?: unknown): void;
  blast(data: unknown): void;
  getId(socket: unknown): string | undefined;
  get(socketId: string): Socket;
  parseSocket(socket: unknown): Socket | undefined;
}

/** `sails.hooks.rooms`: the room manager, promise API. */
export interface RoomsHookApi {
  leave(socket: SocketsArg, roomName: RoomsArg): Promise<RoomsResult>;
  join(socket: SocketsArg, roomName: RoomsArg): Promise<RoomsResult>;
  leaveAll(sourceRoom: string, options?: LeaveAllOptions): Promise<RoomsResult>;
  addRoomMembersToRooms(sourceRoom: string, destRooms: RoomsArg): Promise<RoomsResult>;
  removeRoomMembersFromRooms(sourceRoom: string, destRooms: RoomsArg): Promise<RoomsResult>;
  /**
   * The rooms of a socket on any server (its own ID room left out), or `null` if it is connected
   * nowhere. While a server is cut off from the cluster and may hold it, rejects with
   * `E_UNAVAILABLE`, unless `options.partial`: then `null` means "on none of the servers that answered".
   */
  roomsOf(socket: SocketLike, options?: QueryOptions): Promise<string[] | null>;
  /**
   * The IDs of the sockets in a room, on every server. While a server is cut off from the cluster,
   * rejects with `E_UNAVAILABLE` (`err.partial`: the members the others hold), unless `options.partial`.
   */
  membersOf(roomName: string, options?: QueryOptions): Promise<string[]>;
  /** What this server sees of the cluster, now: cheap, synchronous, a fresh object each call. */
  stats(): RoomsStats;
}

/** The operations `stats()` counts. */
export type RoomsOperationName =
  | 'join' | 'leave' | 'leaveAll' | 'addRoomMembersToRooms' | 'removeRoomMembersFromRooms' | 'roomsOf' | 'membersOf';

/**
 * How an operation ended: `ok`; `notFound` (done, and some IDs passed are connected nowhere);
 * `unreachable` (done, and some server cut off from the cluster may hold what it concerns); or
 * the error's code.
 */
export type RoomsOutcome = 'ok' | 'notFound' | 'unreachable' | RoomsErrorCode;

/** One operation type in `stats()`. */
export interface RoomsOperationStats {
  /** Calls since the lift, by how they ended (outcomes that never happened are left out). */
  outcomes: Partial<Record<RoomsOutcome, number>>;
  /**
   * Operations that waited for other servers over the last minute: how many, and how long they
   * took from the call to the answer, in milliseconds (`null` when there were none).
   */
  confirm: { count: number; p50Ms: number | null; p99Ms: number | null };
}

/** Another server, as this one knows it. */
export interface RoomsPeerStats {
  id: string;
  /** Milliseconds since this server last heard from it. */
  lastHeardMs: number;
  /** Cut off from the cluster (fenced): not counted on until it comes back. */
  fenced: boolean;
}

/** `sails.hooks.rooms.stats()`: a snapshot of this server's view of the cluster. */
export interface RoomsStats {
  /** This server's ID in the cluster (on Redis, every socket ID of this server starts with it and a dot). */
  id: string;
  adapter: 'memory' | 'redis' | 'redis-sharded';
  /** Both connections to Redis up or not; absent with the memory adapter. */
  redis?: 'up' | 'down';
  /** The Redis URL, password masked (absent with the memory adapter or with clients of your own). */
  url?: string;
  /** `sails.config.rooms.key`. */
  key: string;
  /**
   * `member`: in the cluster. `holding`: it may be cut off and is checking with Redis (what it
   * receives waits). `fenced`: the others fenced it; it catches up when it can (docs/partitions.md).
   */
  standing: 'member' | 'holding' | 'fenced';
  /** `standing !== 'member'`: cluster operations fail with E_UNAVAILABLE meanwhile (or wait, with `whenRedisDown: 'wait'`). */
  fenced: boolean;
  /** The other servers this one knows, members and fenced ones. */
  peers: RoomsPeerStats[];
  /** Requests waiting for other servers' answers. */
  pending: number;
  /** Cluster operations waiting, unsent, for Redis to come back (`whenRedisDown: 'wait'`; else 0). */
  waiting: number;
  /** Sockets connected to this server. */
  sockets: number;
  /** Milliseconds since the hook lifted. */
  uptimeMs: number;
  operations: Record<RoomsOperationName, RoomsOperationStats>;
}

/**
 * The parts of the Sails app this hook adds or types, and nothing else: intersect it with your own
 * type of `sails` (`declare var sails: MyApp & SailsWithRooms`). A whole app type: `Sails` in
 * `sails-hook-rooms/augment`.
 */
export interface SailsWithRooms {
  sockets: RoomsSockets;
  io: Server;
  hooks: { rooms: RoomsHookApi };
  config: { rooms: RoomsConfig };
}
