import type { Namespace, Socket } from 'socket.io';
import { callSoon } from './completion';
import { applyLocally, joinRooms, leaveRooms, type MembershipChange } from './membership';
import { assertNotOwnRoom, type SocketRef } from './targets';
import type { OperationStats } from './stats';
import type { ClusterTransport, PeerAnswer } from './transport/transport';
import type { LeaveAllOptions, RoomsCallback, RoomsOperationName, RoomsResult } from './types';

/** The operation each kind of change is asked by. */
const OPERATION_OF: Record<MembershipChange['type'], RoomsOperationName> = {
  join: 'join',
  leave: 'leave',
  addMembers: 'addRoomMembersToRooms',
  removeMembers: 'removeRoomMembersFromRooms',
  leaveAll: 'leaveAll',
};

function notFound(askedIds: readonly string[], foundIds: readonly string[]): string[] {
  // Each socket is connected to one server at most: as many found as asked is all of them.
  if (foundIds.length >= askedIds.length) return [];
  const found = new Set(foundIds);
  return askedIds.filter((id) => !found.has(id));
}

function withPeers(here: RoomsResult, peers: PeerAnswer, askedIds: readonly string[] = []): RoomsResult {
  // Unconfirmed, nobody said what they hold: claim nothing.
  const missing = peers.confirmed ? notFound(askedIds, peers.foundIds) : [];
  // With a server cut off, "connected to none of those that answered" is all that is known.
  const cutOff = peers.unreachableServers > 0;
  return {
    matched: here.matched + peers.matched,
    servers: here.servers + peers.servers,
    notFound: cutOff ? [] : missing,
    unreachable: cutOff ? missing : [],
    unreachableServers: peers.unreachableServers,
  };
}

/**
 * The room operations. Each applies its change to this server's sockets synchronously, then asks
 * the transport to apply it on the other servers when any may be concerned, and ends by telling
 * `done` soon (completion.ts).
 */
export class RoomManager {
  constructor(
    private readonly nsp: Namespace,
    private readonly transport: ClusterTransport,
    private readonly stats: OperationStats,
  ) {}

  join(refs: readonly SocketRef[], rooms: string[], done: RoomsCallback): void {
    this.changeSockets('join', refs, rooms, done);
  }

  leave(refs: readonly SocketRef[], rooms: string[], done: RoomsCallback): void {
    this.changeSockets('leave', refs, rooms, done);
  }

  /** join/leave of a socket connected to this server: nobody else to ask, done at once. */
  changeHere(type: 'join' | 'leave', socket: Socket, room: string): RoomsResult {
    void (type === 'join' ? socket.join(room) : socket.leave(room));
    return { matched: 1, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 };
  }

  addRoomMembersToRooms(sourceRoom: string, rooms: string[], done: RoomsCallback): void {
    this.changeEverywhere({ type: 'addMembers', sourceRoom, rooms }, done);
  }

  removeRoomMembersFromRooms(sourceRoom: string, rooms: string[], done: RoomsCallback): void {
    this.changeEverywhere({ type: 'removeMembers', sourceRoom, rooms }, done);
  }

  leaveAll(sourceRoom: string, options: Required<LeaveAllOptions>, done: RoomsCallback): void {
    this.changeEverywhere({ type: 'leaveAll', sourceRoom, ...options }, done);
  }

  async roomsOf(ref: SocketRef, partial: boolean): Promise<string[] | null> {
    const socket = this.connectedHere(ref);
    const id = typeof ref === 'string' ? ref : ref.id;
    if (socket) return [...socket.rooms].filter((room) => room !== id);
    if (!this.transport.clustered) return null;
    const startedAt = this.stats.startClock();
    const rooms = await this.transport.roomsOfRemoteSocket(id, partial);
    this.stats.confirmed('roomsOf', startedAt);
    return rooms;
  }

  async membersOf(room: string, partial: boolean): Promise<string[]> {
    const here = [...(this.nsp.adapter.rooms.get(room) ?? [])];
    if (!this.transport.clustered) return here;
    try {
      const startedAt = this.stats.startClock();
      const elsewhere = await this.transport.remoteMembersOf(room, partial);
      this.stats.confirmed('membersOf', startedAt);
      return [...new Set([...here, ...elsewhere])];
    } catch (err) {
      // Incomplete (a server cut off): what is known, this server's members included, comes with the error.
      const partial = (err as { partial?: unknown }).partial;
      if (Array.isArray(partial)) (err as { partial: string[] }).partial = [...new Set([...here, ...partial])];
      throw err;
    }
  }

  /** The socket a reference names, if it is connected to this server. */
  connectedHere(ref: SocketRef): Socket | undefined {
    if (typeof ref === 'string') return this.nsp.sockets.get(ref);
    // What being in nsp.sockets means, read from the socket itself: no look-up on the hot path.
    return ref.connected && ref.nsp === this.nsp ? ref : undefined;
  }

  private changeSockets(type: 'join' | 'leave', refs: readonly SocketRef[], rooms: string[], done: RoomsCallback): void {
    // Check every target before changing any, so a bad call changes nothing.
    for (const ref of refs) assertNotOwnRoom(typeof ref === 'string' ? ref : ref.id, rooms, type);
    let matched = 0;
    const elsewhere: string[] = [];
    for (const ref of refs) {
      const socket = this.connectedHere(ref);
      if (socket) {
        matched++;
        if (type === 'join') joinRooms(socket, rooms);
        else leaveRooms(socket, rooms);
      } else {
        elsewhere.push(typeof ref === 'string' ? ref : ref.id);
      }
    }
    const result: RoomsResult = { matched, servers: 1, notFound: elsewhere, unreachable: [], unreachableServers: 0 };
    if (elsewhere.length === 0 || !this.transport.clustered) callSoon(done, null, result);
    else this.whenPeersAnswer({ type, socketIds: elsewhere, rooms }, result, elsewhere, done);
  }

  private changeEverywhere(change: MembershipChange, done: RoomsCallback): void {
    const { matched } = applyLocally(this.nsp, change);
    const result: RoomsResult = { matched, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 };
    if (!this.transport.clustered) callSoon(done, null, result);
    else this.whenPeersAnswer(change, result, [], done);
  }

  /** Sends a change to the other servers; the result here and theirs goes to `done`. */
  private whenPeersAnswer(change: MembershipChange, here: RoomsResult, askedIds: string[], done: RoomsCallback): void {
    const startedAt = this.stats.startClock();
    this.transport.sendChange(change, (err, peers) => {
      if (!err) this.stats.confirmed(OPERATION_OF[change.type], startedAt);
      callSoon(done, err, err ? undefined : withPeers(here, peers!, askedIds));
    });
  }
}
