/** What a bench server process holds, and the commands the driver may send it. */
import type { Namespace, Server, Socket } from 'socket.io';

export type Flavor = 'ours' | 'stock';

/** How the driver asks for a server: which hook, which adapter. */
export interface ServerSpec {
  name: string;
  flavor: Flavor;
  adapter: 'memory' | 'redis';
  redisUrl?: string;
}

type Callback = (err?: unknown, result?: unknown) => void;

/** The room methods on `sails.sockets` (ours or sails-hook-sockets'). */
export interface SocketsMethods {
  leave(socket: unknown, room: unknown, cb?: Callback): unknown;
  join(socket: unknown, room: unknown, cb?: Callback): unknown;
  addRoomMembersToRooms(sourceRoom: string, destRooms: unknown, cb?: Callback): unknown;
  removeRoomMembersFromRooms(sourceRoom: string, destRooms: unknown, cb?: Callback): unknown;
}

export interface BenchServer {
  spec: ServerSpec;
  sails: { sockets: SocketsMethods; io: Server; lower(cb: (err?: Error) => void): void };
  nsp: Namespace;
  /** sails-hook-sockets' own methods, recorded before sails-hook-rooms replaces them. */
  stock: SocketsMethods;
  /** The prototype of the Socket class the app's socket.io uses, for simulated sockets. */
  socketPrototype: Socket;
}

export type Command = (server: BenchServer, args: any) => unknown;
export type Commands = Record<string, Command>;
