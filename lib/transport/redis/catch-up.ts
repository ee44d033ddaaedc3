/**
 * A fenced server coming back applies the removals the others confirmed without it (its catch-up
 * log, registry.ts), against its sockets' membership as it was when it was cut off: a pair
 * (socket, room) changed here since then is a conflict, and the catch-up cannot tell which change
 * is newer, so that socket is disconnected (its client reconnects and joins its rooms again).
 * Joins and additions are never in a catch-up: a join confirmed without a server did not reach it.
 */
import type { Namespace, Socket } from 'socket.io';
import type { Removal } from '../../membership';
import type { LocalChanges } from './local-changes';

export interface CatchUpOutcome {
  /** Removals read from the log. */
  removals: number;
  /** (socket, room) pairs taken out. */
  left: number;
  /** Sockets disconnected for a conflict. */
  disconnected: string[];
  /** Entries that were not a removal this server understands (a newer protocol): the catch-up is incomplete. */
  unreadable: number;
}

function removalOf(entry: string): Removal | undefined {
  try {
    const change = JSON.parse(entry) as Removal;
    switch (change?.type) {
      case 'leave': return Array.isArray(change.socketIds) && Array.isArray(change.rooms) ? change : undefined;
      case 'removeMembers': return typeof change.sourceRoom === 'string' && Array.isArray(change.rooms) ? change : undefined;
      case 'leaveAll': return typeof change.sourceRoom === 'string' ? change : undefined;
      default: return undefined;
    }
  } catch {
    return undefined;
  }
}

export function applyCatchUp(nsp: Namespace, entries: readonly string[], local: LocalChanges): CatchUpOutcome {
  const outcome: CatchUpOutcome = { removals: 0, left: 0, disconnected: [], unreadable: 0 };
  const conflicts = new Set<Socket>();

  /** Takes `socket` out of `room` if it is in it: at once if this server did not change that pair since the cut, else a conflict. */
  const takeOut = (socket: Socket, room: string) => {
    if (room === socket.id || !socket.rooms.has(room)) return;
    if (local.touched(socket.id, room)) {
      conflicts.add(socket);
      return;
    }
    void socket.leave(room);
    outcome.left++;
  };

  /**
   * The sockets that were in `room` when this server was cut off. One that joined or left it here
   * since then may or may not have been: if the removal would change it, it is a conflict.
   */
  const membersAtCut = (room: string, wouldChange: (socket: Socket) => boolean): Socket[] => {
    const members: Socket[] = [];
    for (const socket of nsp.sockets.values()) {
      if (local.touched(socket.id, room)) {
        if (wouldChange(socket)) conflicts.add(socket);
      } else if (socket.rooms.has(room)) {
        members.push(socket);
      }
    }
    return members;
  };

  local.quietly(() => {
    for (const entry of entries) {
      const removal = removalOf(entry);
      if (!removal) {
        outcome.unreadable++;
        continue;
      }
      outcome.removals++;
      switch (removal.type) {
        case 'leave':
          for (const id of removal.socketIds) {
            const socket = nsp.sockets.get(id);
            if (socket) for (const room of removal.rooms) takeOut(socket, room);
          }
          break;
        case 'removeMembers': {
          const inAny = (socket: Socket) => removal.rooms.some((room) => room !== socket.id && socket.rooms.has(room));
          for (const socket of membersAtCut(removal.sourceRoom, inAny)) for (const room of removal.rooms) takeOut(socket, room);
          break;
        }
        case 'leaveAll': {
          const leaves = (socket: Socket, room: string) => (room !== socket.id || removal.includeSocketRooms)
            && (room !== removal.sourceRoom || removal.includeSourceRoom);
          const leavesAny = (socket: Socket) => [...socket.rooms].some((room) => leaves(socket, room));
          for (const socket of membersAtCut(removal.sourceRoom, leavesAny)) {
            for (const room of [...socket.rooms]) {
              if (!leaves(socket, room)) continue;
              if (room === socket.id) void socket.leave(room);
              else takeOut(socket, room);
            }
          }
          break;
        }
      }
    }
  });

  for (const socket of conflicts) {
    outcome.disconnected.push(socket.id);
    socket.disconnect(true);
  }
  return outcome;
}
