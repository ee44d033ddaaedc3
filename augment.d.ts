// The type of the Sails app with this hook, declaring nothing global: for projects that declare
// the `sails` global themselves (`sails-hook-rooms/global` declares it as `Sails`).
//
// - Your own app type: `declare var sails: MyApp & SailsWithRooms;` keeps your members and adds
//   `sails.sockets`, `sails.io`, `sails.hooks.rooms` and `sails.config.rooms`, precisely typed
//   (as long as MyApp's `hooks` and `config` are not `any` or `Record<string, any>`).
// - No type of your own: `declare var sails: Sails;`.
// - Keeping `declare var sails: any`: type what you use, e.g.
//   `const rooms: RoomsHookApi = sails.hooks.rooms;`, `const sockets: RoomsSockets = sails.sockets;`.
//
// Every interface here is open: merge into it to type more, e.g. your models:
//   declare module 'sails-hook-rooms/augment' { interface SailsModels { user: UserModel } }
import type { EventEmitter } from 'events';
import type { RoomsConfig, RoomsHookApi, SailsWithRooms } from './dist/types';

export type {
  RoomsCallback, RoomsConfig, RoomsHookApi, RoomsResult, RoomsSockets, RoomsStats, SailsWithRooms, SocketLike,
} from './dist/types';

/** `sails.log`: called itself, it logs at the `debug` level. */
export interface SailsLog {
  (...args: unknown[]): void;
  crit(...args: unknown[]): void;
  error(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  verbose(...args: unknown[]): void;
  silly(...args: unknown[]): void;
  blank(): void;
  ship(): void;
}

/** `sails.models`, by identity; untyped until you merge yours in. */
export interface SailsModels {
  [identity: string]: any;
}

/** `sails.helpers`; untyped until you merge yours in. */
export interface SailsHelpers {
  [name: string]: any;
}

/** `sails.hooks`: this hook's API typed, the others untyped until you merge them in. */
export interface SailsHooks {
  rooms: RoomsHookApi;
  [name: string]: any;
}

/** `sails.config`: `rooms` typed, any other key untyped until you merge it in. */
export interface SailsConfig {
  rooms: RoomsConfig;
  [key: string]: any;
}

/** The Sails app (`sails`) with this hook installed. */
export interface Sails extends EventEmitter, SailsWithRooms {
  log: SailsLog;
  models: SailsModels;
  helpers: SailsHelpers;
  hooks: SailsHooks;
  config: SailsConfig;
  /** Calls `handler` once every event named has fired, at once for those that already have. */
  after(events: string | readonly string[], handler: () => void): void;
  lift(done: (err?: Error) => void): void;
  lift(configOverride?: Record<string, unknown>, done?: (err?: Error) => void): void;
  lower(done?: (err?: Error) => void): void;
}
