/** What this server does with another server's request: applies it to its own sockets, or looks them up. */
import type { Namespace } from 'socket.io';
import { applyLocally } from '../../membership';
import type { ClusterRequest, SentReply } from './wire';

export function answer(nsp: Namespace, request: ClusterRequest): SentReply {
  switch (request.kind) {
    case 'change': {
      const { change } = request;
      const { matched, foundIds } = applyLocally(nsp, change);
      const askedIds = change.type === 'join' || change.type === 'leave' ? change.socketIds : [];
      return { matched, foundIds: foundIds.length === askedIds.length ? 'all' : foundIds };
    }
    case 'roomsOf': {
      const socket = nsp.sockets.get(request.socketId);
      if (!socket) return { matched: 0, foundIds: [], names: null };
      return { matched: 1, foundIds: 'all', names: [...socket.rooms].filter((room) => room !== socket.id) };
    }
    case 'membersOf':
      return { matched: 0, foundIds: [], names: [...(nsp.adapter.rooms.get(request.room) ?? [])] };
  }
}
