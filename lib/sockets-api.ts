import type { Socket } from 'socket.io';
import { reject, settle, type Logger } from './deliver';
import { RoomsError, describeValue, unreadable } from './errors';
import type { Outcome, RoomManager } from './room-manager';
import { isRoomName, parseRoom, parseRooms, parseSocket, parseSockets } from './targets';
import type { LeaveAllOptions, RoomsCallback, RoomsResult } from './types';

type MaybeCallback = RoomsCallback | undefined;

function callbackArg(value: unknown, fnName: string): MaybeCallback {
  if (value === undefined || value === null || typeof value === 'function') {
    return (value ?? undefined) as MaybeCallback;
  }
  throw new RoomsError(
    'E_INVALID_CALLBACK',
    `sails.sockets.${fnName}() got ${describeValue(value)} as its callback: pass a function, or nothing to get a promise.`,
  );
}

function leaveAllOptions(value: unknown): Required<LeaveAllOptions> {
  try {
    return readLeaveAllOptions(value);
  } catch (err) {
    throw unreadable(err, 'E_INVALID_OPTIONS', 'The options passed to sails.sockets.leaveAll()');
  }
}

function readLeaveAllOptions(value: unknown): Required<LeaveAllOptions> {
  const options = (value ?? {}) as Record<string, unknown>;
  const valid = typeof options === 'object' && !Array.isArray(options)
    && ['includeSocketRooms', 'includeSourceRoom'].every(
      (key) => options[key] === undefined || typeof options[key] === 'boolean',
    );
  if (!valid) {
    throw new RoomsError(
      'E_INVALID_OPTIONS',
      `sails.sockets.leaveAll() got ${describeValue(value)} as its options: pass { includeSocketRooms?: boolean, includeSourceRoom?: boolean }.`,
    );
  }
  return {
    includeSocketRooms: options.includeSocketRooms === true,
    includeSourceRoom: options.includeSourceRoom !== false,
  };
}

/** `{ partial?: boolean }` of the queries: whether an answer may leave out servers cut off from the cluster. */
function queryOptions(value: unknown, fnName: string): boolean {
  if (value === undefined || value === null) return false;
  let valid: boolean;
  let partial: unknown;
  try {
    valid = typeof value === 'object' && !Array.isArray(value);
    partial = valid ? (value as { partial?: unknown }).partial : undefined;
  } catch (err) {
    throw unreadable(err, 'E_INVALID_OPTIONS', `The options passed to sails.hooks.rooms.${fnName}()`);
  }
  if (valid && (partial === undefined || typeof partial === 'boolean')) return partial === true;
  throw new RoomsError(
    'E_INVALID_OPTIONS',
    `sails.hooks.rooms.${fnName}() got ${describeValue(value)} as its options: pass { partial?: boolean }.`,
  );
}

/**
 * The operations installed on `sails.sockets` (callback or promise) and on `sails.hooks.rooms`:
 * each parses its arguments once, then hands over to the room manager. `sails.sockets` warns of
 * a usage error at once, as stock Sails does; the promise API leaves it to the caller.
 */
export function createRoomsApi(manager: RoomManager, log: Logger, { warnUsageErrors }: { warnUsageErrors: boolean }) {
  /**
   * The call apps make most, once per request: one socket connected to this server and one room
   * name. Recognised in a few checks that never throw, and applied at once; any other call, valid
   * or not, gets undefined and goes the general way, which parses (and explains what is wrong).
   */
  function changeIfHere(type: 'join' | 'leave', socket: unknown, roomName: unknown, cb: unknown): RoomsResult | undefined {
    if (!isRoomName(roomName) || (cb !== undefined && typeof cb !== 'function')) return undefined;
    let here: Socket | undefined;
    try {
      here = manager.socketHere(socket);
    } catch {
      return undefined; // An unreadable argument: the general way reports it.
    }
    return here && here.id !== roomName ? manager.changeHere(type, here, roomName) : undefined;
  }

  /** The operations, on the caller's arguments as they came: parsing throws the usage errors. */
  const operations = {
    leave: (socket: unknown, roomName: unknown, cb: MaybeCallback) => manager.leave(
      parseSockets(socket, 'leave'),
      parseRooms(roomName, 'leave'),
      cb,
    ),
    join: (socket: unknown, roomName: unknown, cb: MaybeCallback) => manager.join(
      parseSockets(socket, 'join'),
      parseRooms(roomName, 'join'),
      cb,
    ),
    leaveAll: (sourceRoom: unknown, options: unknown, cb: MaybeCallback) => manager.leaveAll(
      parseRoom(sourceRoom, 'leaveAll', 'sourceRoom'),
      leaveAllOptions(options),
      cb,
    ),
    addRoomMembersToRooms: (sourceRoom: unknown, destRooms: unknown, cb: MaybeCallback) => manager.addRoomMembersToRooms(
      parseRoom(sourceRoom, 'addRoomMembersToRooms', 'sourceRoom'),
      parseRooms(destRooms, 'addRoomMembersToRooms', 'destRooms'),
      cb,
    ),
    removeRoomMembersFromRooms: (sourceRoom: unknown, destRooms: unknown, cb: MaybeCallback) => manager.removeRoomMembersFromRooms(
      parseRoom(sourceRoom, 'removeRoomMembersFromRooms', 'sourceRoom'),
      parseRooms(destRooms, 'removeRoomMembersFromRooms', 'destRooms'),
      cb,
    ),
  };

  /** Runs an operation and hands its outcome over; nothing allocated per call: leave and join run per request. */
  function call(
    fnName: string,
    operation: (first: unknown, second: unknown, cb: MaybeCallback) => Outcome,
    first: unknown,
    second: unknown,
    cbArg: unknown,
  ) {
    let cb: MaybeCallback = undefined;
    let outcome: Outcome;
    try {
      cb = callbackArg(cbArg, fnName);
      outcome = operation(first, second, cb);
    } catch (err) {
      // An unusable callback gets nothing: the error goes to the promise.
      return reject(err as RoomsError, cb, fnName, log, warnUsageErrors);
    }
    return settle(outcome, cb, fnName, log);
  }

  return {
    leave(socket: unknown, roomName: unknown, cb?: unknown) {
      const done = changeIfHere('leave', socket, roomName, cb);
      return done ? settle(done, cb as MaybeCallback, 'leave', log) : call('leave', operations.leave, socket, roomName, cb);
    },

    join(socket: unknown, roomName: unknown, cb?: unknown) {
      const done = changeIfHere('join', socket, roomName, cb);
      return done ? settle(done, cb as MaybeCallback, 'join', log) : call('join', operations.join, socket, roomName, cb);
    },

    leaveAll(sourceRoom: unknown, options?: unknown, cb?: unknown) {
      if (typeof options === 'function') [options, cb] = [undefined, options];
      return call('leaveAll', operations.leaveAll, sourceRoom, options, cb);
    },

    addRoomMembersToRooms(sourceRoom: unknown, destRooms: unknown, cb?: unknown) {
      return call('addRoomMembersToRooms', operations.addRoomMembersToRooms, sourceRoom, destRooms, cb);
    },

    removeRoomMembersFromRooms(sourceRoom: unknown, destRooms: unknown, cb?: unknown) {
      return call('removeRoomMembersFromRooms', operations.removeRoomMembersFromRooms, sourceRoom, destRooms, cb);
    },

    roomsOf(socket: unknown, options?: unknown): Promise<string[] | null> {
      try {
        return manager.roomsOf(parseSocket(socket, 'roomsOf'), queryOptions(options, 'roomsOf'));
      } catch (err) {
        return Promise.reject(err);
      }
    },

    membersOf(roomName: unknown, options?: unknown): Promise<string[]> {
      try {
        return manager.membersOf(parseRoom(roomName, 'membersOf', 'roomName'), queryOptions(options, 'membersOf'));
      } catch (err) {
        return Promise.reject(err);
      }
    },
  };
}

export type RoomsApi = ReturnType<typeof createRoomsApi>;
