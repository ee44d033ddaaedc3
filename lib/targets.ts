import type { Socket } from 'socket.io';
import { RoomsError, describeValue, unreadable } from './errors';

/** Longest room name accepted; room names travel in every cluster message. */
export const MAX_ROOM_NAME_LENGTH = 512;
/** Longest socket ID accepted (socket.io's own are 20 characters). */
export const MAX_SOCKET_ID_LENGTH = 128;

/** A socket a caller named: a connected `Socket` object, or an ID that may be on any server. */
export type SocketRef = Socket | string;

function isSocket(value: unknown): value is Socket {
  if (typeof value !== 'object' || value === null) return false;
  const socket = value as Record<string, unknown>;
  return typeof socket.id === 'string'
    && typeof socket.join === 'function'
    && typeof socket.leave === 'function'
    // Not read: socket.io computes `rooms` from its adapter on each read, and this runs per leave.
    && 'rooms' in socket;
}

/** The socket.io Socket an argument holds itself (a Socket, or a socket request's), else undefined: no errors, no IDs. */
export function heldSocket(value: unknown): Socket | undefined {
  if (isSocket(value)) return value;
  const socket = typeof value === 'object' && value !== null && (value as { isSocket?: unknown }).isSocket === true
    ? (value as { socket?: unknown }).socket
    : undefined;
  return isSocket(socket) ? socket : undefined;
}

function looksLikeHttpRequest(value: object): boolean {
  return 'isSocket' in value || ('method' in value && 'headers' in value);
}

/** Parses an argument that names exactly one socket. */
export function parseSocket(value: unknown, fnName: string): SocketRef {
  try {
    return readSocket(value, fnName);
  } catch (err) {
    throw unreadable(err, 'E_INVALID_SOCKET', `The socket passed to sails.sockets.${fnName}()`);
  }
}

function readSocket(value: unknown, fnName: string): SocketRef {
  if (typeof value === 'string') {
    if (value !== '' && value.length <= MAX_SOCKET_ID_LENGTH) return value;
    throw new RoomsError(
      'E_INVALID_SOCKET',
      `sails.sockets.${fnName}() got ${describeValue(value)} as a socket ID: pass the ID of a socket (1 to ${MAX_SOCKET_ID_LENGTH} characters), a socket request req, or a socket.io Socket.`,
    );
  }
  const held = heldSocket(value);
  if (held) return held;
  if (typeof value === 'object' && value !== null) {
    if ((value as { isSocket?: unknown }).isSocket === true) {
      throw new RoomsError(
        'E_INVALID_SOCKET',
        `sails.sockets.${fnName}() got a request with isSocket === true but no socket.io Socket in req.socket: pass the socket request req as Sails gives it to the action.`,
      );
    }
    if (looksLikeHttpRequest(value)) {
      throw new RoomsError(
        'E_INVALID_SOCKET',
        `sails.sockets.${fnName}() got an HTTP request, not a socket request: only sockets can be in rooms, so check req.isSocket === true before passing req.`,
      );
    }
  }
  throw new RoomsError(
    'E_INVALID_SOCKET',
    `sails.sockets.${fnName}() got ${describeValue(value)} as its socket: pass a socket request req (req.isSocket === true), a socket.io Socket, a socket ID string, or an array of these.`,
  );
}

/** Parses the `socket` argument: one socket reference, or distinct ones when it is an array. */
export function parseSockets(value: unknown, fnName: string): SocketRef[] {
  try {
    return Array.isArray(value) ? readSockets(value, fnName) : [readSocket(value, fnName)];
  } catch (err) {
    throw unreadable(err, 'E_INVALID_SOCKET', `The socket passed to sails.sockets.${fnName}()`);
  }
}

function readSockets(value: unknown[], fnName: string): SocketRef[] {
  if (value.length === 0) {
    throw new RoomsError(
      'E_INVALID_SOCKET',
      `sails.sockets.${fnName}() got an empty array of sockets: pass at least one socket request, Socket or socket ID.`,
    );
  }
  const seen = new Set<string>();
  const refs: SocketRef[] = [];
  for (const item of value) {
    const ref = parseSocket(item, fnName);
    const id = typeof ref === 'string' ? ref : ref.id;
    if (seen.has(id)) continue;
    seen.add(id);
    refs.push(ref);
  }
  return refs;
}

/** Whether `value` is a room name the operations accept. */
export function isRoomName(value: unknown): value is string {
  return typeof value === 'string' && value !== '' && value.length <= MAX_ROOM_NAME_LENGTH;
}

function checkRoomName(value: unknown, fnName: string, argName: string): string {
  if (isRoomName(value)) return value;
  const hint = typeof value === 'object' && value !== null && !Array.isArray(value)
    ? ' (req.param() returns an object when the client sends one: check its type first)'
    : '';
  throw new RoomsError(
    'E_INVALID_ROOM',
    `sails.sockets.${fnName}() got ${describeValue(value)} as ${argName}${hint}: pass a room name (a string of 1 to ${MAX_ROOM_NAME_LENGTH} characters) or a non-empty array of them.`,
  );
}

/** Parses a room name argument that may be one name or an array of names. */
export function parseRooms(value: unknown, fnName: string, argName = 'roomName'): string[] {
  try {
    return readRooms(value, fnName, argName);
  } catch (err) {
    throw unreadable(err, 'E_INVALID_ROOM', `The ${argName} passed to sails.sockets.${fnName}()`);
  }
}

function readRooms(value: unknown, fnName: string, argName: string): string[] {
  if (!Array.isArray(value)) return [checkRoomName(value, fnName, argName)];
  if (value.length === 0) {
    throw new RoomsError(
      'E_INVALID_ROOM',
      `sails.sockets.${fnName}() got an empty array as ${argName}: pass at least one room name.`,
    );
  }
  const rooms = new Set<string>();
  for (const item of value) rooms.add(checkRoomName(item, fnName, argName));
  return [...rooms];
}

/** Parses an argument that names exactly one room (e.g. a source room). */
export function parseRoom(value: unknown, fnName: string, argName: string): string {
  try {
    return checkRoomName(value, fnName, argName);
  } catch (err) {
    throw unreadable(err, 'E_INVALID_ROOM', `The ${argName} passed to sails.sockets.${fnName}()`);
  }
}

/**
 * A socket's own ID room carries messages addressed to it: it is never joined or left by name,
 * and room-to-room operations leave it alone (leaveAll only when asked to).
 */
export function isOwnRoom(socketId: string, room: string): boolean {
  return room === socketId;
}

export function assertNotOwnRoom(socketId: string, rooms: readonly string[], fnName: string): void {
  for (const room of rooms) {
    if (isOwnRoom(socketId, room)) throw ownRoomError(socketId, fnName);
  }
}

function ownRoomError(socketId: string, fnName: string): RoomsError {
  return new RoomsError(
    'E_INVALID_ROOM',
    `sails.sockets.${fnName}() was asked to use socket ${socketId}'s own ID room: every socket stays in the room named after its ID (it is how messages reach that socket); pass another room name.`,
  );
}
