import { deliver, type Logger } from './deliver';
import { RoomsError, describeValue } from './errors';
import type { RoomManager } from './room-manager';
import { parseRoom, parseRooms, parseSocket, parseSockets } from './targets';
import type { LeaveAllOptions, RoomsCallback } from './types';

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

/**
 * The operations installed on `sails.sockets` (callback or promise) and on `sails.hooks.rooms`:
 * each parses its arguments once, then hands over to the room manager. `sails.sockets` warns of
 * a usage error at once, as stock Sails does; the promise API leaves it to the caller.
 */
export function createRoomsApi(manager: RoomManager, log: Logger, { warnUsageErrors }: { warnUsageErrors: boolean }) {
  /** Runs `operation` unless the callback argument itself is unusable. */
  function call(fnName: string, cbArg: unknown, operation: () => ReturnType<RoomManager['leave']>) {
    let cb: MaybeCallback;
    try {
      cb = callbackArg(cbArg, fnName);
    } catch (err) {
      return deliver(() => { throw err; }, undefined, fnName, log, warnUsageErrors);
    }
    return deliver(operation, cb, fnName, log, warnUsageErrors);
  }

  return {
    leave(socket: unknown, roomName: unknown, cb?: unknown) {
      return call('leave', cb, () => manager.leave(parseSockets(socket, 'leave'), parseRooms(roomName, 'leave')));
    },

    join(socket: unknown, roomName: unknown, cb?: unknown) {
      return call('join', cb, () => manager.join(parseSockets(socket, 'join'), parseRooms(roomName, 'join')));
    },

    leaveAll(sourceRoom: unknown, options?: unknown, cb?: unknown) {
      if (typeof options === 'function') [options, cb] = [undefined, options];
      return call('leaveAll', cb, () => manager.leaveAll(
        parseRoom(sourceRoom, 'leaveAll', 'sourceRoom'),
        leaveAllOptions(options),
      ));
    },

    addRoomMembersToRooms(sourceRoom: unknown, destRooms: unknown, cb?: unknown) {
      const fnName = 'addRoomMembersToRooms';
      return call(fnName, cb, () => manager.addRoomMembersToRooms(
        parseRoom(sourceRoom, fnName, 'sourceRoom'),
        parseRooms(destRooms, fnName, 'destRooms'),
      ));
    },

    removeRoomMembersFromRooms(sourceRoom: unknown, destRooms: unknown, cb?: unknown) {
      const fnName = 'removeRoomMembersFromRooms';
      return call(fnName, cb, () => manager.removeRoomMembersFromRooms(
        parseRoom(sourceRoom, fnName, 'sourceRoom'),
        parseRooms(destRooms, fnName, 'destRooms'),
      ));
    },

    roomsOf(socket: unknown): Promise<string[] | null> {
      try {
        return manager.roomsOf(parseSocket(socket, 'roomsOf'));
      } catch (err) {
        return Promise.reject(err);
      }
    },

    membersOf(roomName: unknown): Promise<string[]> {
      try {
        return manager.membersOf(parseRoom(roomName, 'membersOf', 'roomName'));
      } catch (err) {
        return Promise.reject(err);
      }
    },
  };
}

export type RoomsApi = ReturnType<typeof createRoomsApi>;
