import { doneHere, exposed, type Operation } from './completion';
import { RoomsError, describeValue, unreadable } from './errors';
import type { RoomManager } from './room-manager';
import type { Logger } from './sails';
import type { OperationStats } from './stats';
import { heldSocket, isOwnRoom, isRoomName, parseRoom, parseRooms, parseSocket, parseSockets, type SocketRef } from './targets';
import type { LeaveAllOptions, RoomsCallback, RoomsOperationName, RoomsResult } from './types';

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
 * each parses its arguments once, then hands over to the room manager, which ends it
 * (completion.ts). `sails.sockets` warns of a usage error at once, as stock Sails does; the
 * promise API leaves it to the caller.
 */
export function createRoomsApi(manager: RoomManager, stats: OperationStats, log: Logger, { warnUsageErrors }: { warnUsageErrors: boolean }) {
  const expose = (fnName: RoomsOperationName, operation: Operation) => exposed(
    fnName, operation, log, warnUsageErrors, (err, result) => stats.ended(fnName, err, result),
  );
  /** A query's promise, its end counted. */
  const counted = <T>(fnName: RoomsOperationName, query: () => Promise<T>): Promise<T> => {
    let answer: Promise<T>;
    try {
      answer = query();
    } catch (err) {
      answer = Promise.reject(err);
    }
    return answer.then((value) => {
      stats.ended(fnName, null);
      return value;
    }, (err: RoomsError) => {
      stats.ended(fnName, err);
      throw err;
    });
  };

  const leaveAnywhere = expose('leave', (socket, roomName, done) => manager.leave(parseSockets(socket, 'leave'), parseRooms(roomName, 'leave'), done));
  const joinAnywhere = expose('join', (socket, roomName, done) => manager.join(parseSockets(socket, 'join'), parseRooms(roomName, 'join'), done));
  const leaveAll = expose('leaveAll', (sourceRoom, options, done) => manager.leaveAll(
    parseRoom(sourceRoom, 'leaveAll', 'sourceRoom'), leaveAllOptions(options), done,
  ));
  const addRoomMembersToRooms = expose('addRoomMembersToRooms', (sourceRoom, destRooms, done) => manager.addRoomMembersToRooms(
    parseRoom(sourceRoom, 'addRoomMembersToRooms', 'sourceRoom'), parseRooms(destRooms, 'addRoomMembersToRooms', 'destRooms'), done,
  ));
  const removeRoomMembersFromRooms = expose('removeRoomMembersFromRooms', (sourceRoom, destRooms, done) => manager.removeRoomMembersFromRooms(
    parseRoom(sourceRoom, 'removeRoomMembersFromRooms', 'sourceRoom'), parseRooms(destRooms, 'removeRoomMembersFromRooms', 'destRooms'), done,
  ));

  /**
   * The call apps make most, once per request: one socket connected to this server and one room
   * name (not its own). Recognised in a few checks that never throw; any other call, valid or
   * not, gets undefined and goes the general way, which parses (and explains what is wrong).
   */
  function fastPathSocket(socket: unknown, roomName: unknown, cb: unknown) {
    if (!isRoomName(roomName) || (cb !== undefined && typeof cb !== 'function')) return undefined;
    try {
      const ref: SocketRef | undefined = typeof socket === 'string' ? socket : heldSocket(socket);
      const here = ref === undefined ? undefined : manager.connectedHere(ref);
      return here && !isOwnRoom(here.id, roomName) ? here : undefined;
    } catch {
      return undefined; // An unreadable argument: the general way reports it.
    }
  }

  return {
    leave(socket: unknown, roomName: unknown, cb?: unknown): Promise<RoomsResult> | undefined {
      const here = fastPathSocket(socket, roomName, cb);
      if (!here) return leaveAnywhere(socket, roomName, cb);
      stats.doneHere('leave');
      return doneHere(manager.changeHere('leave', here, roomName as string), cb as RoomsCallback | undefined);
    },

    join(socket: unknown, roomName: unknown, cb?: unknown): Promise<RoomsResult> | undefined {
      const here = fastPathSocket(socket, roomName, cb);
      if (!here) return joinAnywhere(socket, roomName, cb);
      stats.doneHere('join');
      return doneHere(manager.changeHere('join', here, roomName as string), cb as RoomsCallback | undefined);
    },

    leaveAll(sourceRoom: unknown, options?: unknown, cb?: unknown) {
      return typeof options === 'function' ? leaveAll(sourceRoom, undefined, options) : leaveAll(sourceRoom, options, cb);
    },

    addRoomMembersToRooms,
    removeRoomMembersFromRooms,

    roomsOf(socket: unknown, options?: unknown): Promise<string[] | null> {
      return counted('roomsOf', () => manager.roomsOf(parseSocket(socket, 'roomsOf'), queryOptions(options, 'roomsOf')));
    },

    membersOf(roomName: unknown, options?: unknown): Promise<string[]> {
      return counted('membersOf', () => manager.membersOf(parseRoom(roomName, 'membersOf', 'roomName'), queryOptions(options, 'membersOf')));
    },
  };
}

export type RoomsApi = ReturnType<typeof createRoomsApi>;
