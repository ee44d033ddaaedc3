import type { Namespace, Socket } from 'socket.io';
import { applyLocally, joinRooms, leaveRooms, type MembershipChange } from './membership';
import { assertNotOwnRoom, type SocketRef } from './targets';
import type { ClusterTransport, PeerAnswer } from './transport/transport';
import type { LeaveAllOptions, RoomsResult } from './types';

/** A result now when no other server is involved, or a promise of it. */
export type Outcome = RoomsResult | Promise<RoomsResult>;

function notFound(askedIds: readonly string[], foundIds: readonly string[]): string[] {
  // Each socket is connected to one server at most: as many found as asked is all of them.
  if (foundIds.length >= askedIds.length) return [];
  const found = new Set(foundIds);
  return askedIds.filter((id) => !found.has(id));
}

function withPeers(here: RoomsResult, peers: PeerAnswer, askedIds: readonly string[] = []): RoomsResult {
  return {
    matched: here.matched + peers.matched,
    servers: here.servers + peers.servers,
    // Unconfirmed, nobody said what they hold: claim nothing.
    notFound: peers.confirmed ? notFound(askedIds, peers.foundIds) : [],
  };
}

/**
 * The room operations. Each applies its change to this server's sockets synchronously, then asks
 * the transport to apply it on the other servers when any may be concerned.
 */
export class RoomManager {
  constructor(
    private readonly nsp: Namespace,
    private readonly transport: ClusterTransport,
  ) {}

  join(refs: readonly SocketRef[], rooms: string[]): Outcome {
    return this.changeSockets('join', refs, rooms);
  }

  leave(refs: readonly SocketRef[], rooms: string[]): Outcome {
    return this.changeSockets('leave', refs, rooms);
  }

  addRoomMembersToRooms(sourceRoom: string, rooms: string[]): Outcome {
    return this.changeEverywhere({ type: 'addMembers', sourceRoom, rooms });
  }

  removeRoomMembersFromRooms(sourceRoom: string, rooms: string[]): Outcome {
    return this.changeEverywhere({ type: 'removeMembers', sourceRoom, rooms });
  }

  leaveAll(sourceRoom: string, options: Required<LeaveAllOptions>): Outcome {
    return this.changeEverywhere({ type: 'leaveAll', sourceRoom, ...options });
  }

  async roomsOf(ref: SocketRef): Promise<string[] | null> {
    const socket = this.localSocket(ref);
    const id = typeof ref === 'string' ? ref : ref.id;
    if (socket) return [...socket.rooms].filter((room) => room !== id);
    return this.transport.clustered ? this.transport.roomsOfRemoteSocket(id) : null;
  }

  async membersOf(room: string): Promise<string[]> {
    const here = [...(this.nsp.adapter.rooms.get(room) ?? [])];
    if (!this.transport.clustered) return here;
    const elsewhere = await this.transport.remoteMembersOf(room);
    return [...new Set([...here, ...elsewhere])];
  }

  /** The socket a reference names, if it is connected to this server. */
  private localSocket(ref: SocketRef): Socket | undefined {
    if (typeof ref === 'string') return this.nsp.sockets.get(ref);
    // What being in nsp.sockets means, read from the socket itself: no look-up on the hot path.
    return ref.connected && ref.nsp === this.nsp ? ref : undefined;
  }

  private changeSockets(type: 'join' | 'leave', refs: readonly SocketRef[], rooms: string[]): Outcome {
    // Check every target before changing any, so a bad call changes nothing.
    for (const ref of refs) assertNotOwnRoom(typeof ref === 'string' ? ref : ref.id, rooms, type);
    let matched = 0;
    const elsewhere: string[] = [];
    for (const ref of refs) {
      const socket = this.localSocket(ref);
      if (socket) {
        matched++;
        if (type === 'join') joinRooms(socket, rooms);
        else leaveRooms(socket, rooms);
      } else {
        elsewhere.push(typeof ref === 'string' ? ref : ref.id);
      }
    }
    const result: RoomsResult = { matched, servers: 1, notFound: elsewhere };
    if (elsewhere.length === 0 || !this.transport.clustered) return result;
    return this.transport
      .sendChange({ type, socketIds: elsewhere, rooms })
      .then((peers) => withPeers(result, peers, elsewhere));
  }

  private changeEverywhere(change: MembershipChange): Outcome {
    const { matched } = applyLocally(this.nsp, change);
    const result: RoomsResult = { matched, servers: 1, notFound: [] };
    if (!this.transport.clustered) return result;
    return this.transport.sendChange(change).then((peers) => withPeers(result, peers));
  }
}
