import type { Server, Socket } from 'socket.io';
import type { RoomsError } from './errors';

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

/** Anything that names a socket: a socket request `req`, a socket.io `Socket`, or a socket ID. */
export type SocketLike = string | Socket | { isSocket: true; socket: Socket };
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
}

/** The parts of the Sails app this hook adds or types; use it as the type of `sails` in TypeScript. */
export interface SailsWithRooms {
  sockets: RoomsSockets;
  io: Server;
  hooks: { rooms: RoomsHookApi } & Record<string, unknown>;
  config: { rooms: RoomsConfig } & Record<string, unknown>;
}
