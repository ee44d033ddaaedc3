import type { Namespace, Socket } from 'socket.io';
import { isOwnRoom } from './targets';

/**
 * A change of room membership, as it is applied on each server. The same value crosses the wire
 * to other servers, so it holds only IDs and names.
 */
export type MembershipChange =
  | { type: 'join' | 'leave'; socketIds: string[]; rooms: string[] }
  | { type: 'addMembers' | 'removeMembers'; sourceRoom: string; rooms: string[] }
  | { type: 'leaveAll'; sourceRoom: string; includeSocketRooms: boolean; includeSourceRoom: boolean };

/** The changes that take sockets out of rooms: what a fenced server catches up on (transport/redis/catch-up.ts). */
export type Removal =
  | { type: 'leave'; socketIds: string[]; rooms: string[] }
  | { type: 'removeMembers'; sourceRoom: string; rooms: string[] }
  | Extract<MembershipChange, { type: 'leaveAll' }>;

export function isRemoval(change: MembershipChange): change is Removal {
  return change.type === 'leave' || change.type === 'removeMembers' || change.type === 'leaveAll';
}

/** What one server did with a change. */
export interface LocalOutcome {
  /** Sockets of this server the change applied to. */
  matched: number;
  /** For join/leave by ID: which of the IDs are connected here. */
  foundIds: string[];
}

export function joinRooms(socket: Socket, rooms: readonly string[]): void {
  // One adapter call for all rooms: the memory adapter applies it synchronously.
  void socket.join(rooms as string[]);
}

export function leaveRooms(socket: Socket, rooms: readonly string[]): void {
  for (const room of rooms) {
    if (!isOwnRoom(socket.id, room)) void socket.leave(room);
  }
}

/** The sockets of this server that are in `room`, copied so callers may change their rooms. */
export function localMembers(nsp: Namespace, room: string): Socket[] {
  const ids = nsp.adapter.rooms.get(room);
  if (!ids) return [];
  const members: Socket[] = [];
  for (const id of ids) {
    const socket = nsp.sockets.get(id);
    if (socket) members.push(socket);
  }
  return members;
}

/** Applies a change to the sockets of this server only. */
export function applyLocally(nsp: Namespace, change: MembershipChange): LocalOutcome {
  switch (change.type) {
    case 'join':
    case 'leave': {
      const foundIds: string[] = [];
      for (const id of change.socketIds) {
        const socket = nsp.sockets.get(id);
        if (!socket) continue;
        foundIds.push(id);
        if (change.type === 'join') joinRooms(socket, change.rooms);
        else leaveRooms(socket, change.rooms);
      }
      return { matched: foundIds.length, foundIds };
    }
    case 'addMembers':
    case 'removeMembers': {
      const members = localMembers(nsp, change.sourceRoom);
      for (const socket of members) {
        if (change.type === 'addMembers') joinRooms(socket, change.rooms);
        else leaveRooms(socket, change.rooms);
      }
      return { matched: members.length, foundIds: [] };
    }
    case 'leaveAll': {
      const members = localMembers(nsp, change.sourceRoom);
      for (const socket of members) {
        for (const room of [...socket.rooms]) {
          if (isOwnRoom(socket.id, room) && !change.includeSocketRooms) continue;
          if (room === change.sourceRoom && !change.includeSourceRoom) continue;
          void socket.leave(room);
        }
      }
      return { matched: members.length, foundIds: [] };
    }
  }
}
