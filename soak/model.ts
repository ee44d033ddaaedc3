/**
 * The soak's model of the cluster's room membership: what every (socket, room) pair must be,
 * given the operations that were confirmed and those that failed.
 *
 * A confirmed operation has applied everywhere, except where its answer says it did not reach (a
 * join or add confirmed without a server cut off from the cluster: docs/partitions.md). One that
 * failed with E_TIMEOUT / E_UNAVAILABLE applied on the server that issued it and, on each other
 * server, either applied or did not: one unknown per (operation, server), since a server applies a
 * change to all of its sockets at once.
 * While a server is cut off from the cluster, removals confirmed without it are recorded for it and
 * applied when it catches up (docs/partitions.md): until then it has a view of its own, in which
 * they are not. Its own operations read that view (a room-to-room operation issued there reads who
 * is in its source room); every change that reaches it goes into both.
 *
 * A pair's state is therefore a small decision tree over those unknowns, and the final check asks
 * whether ONE choice of "applied / not applied" per failed operation and server explains the whole
 * cluster's actual membership.
 */

/** Whether a failed operation applied on one server. */
export interface Unknown {
  id: number;
  /** What it stands for, for reports: e.g. "op 812 (leave) on server-2". */
  label: string;
}

/** If unknown `v` applied: `a`, else `n`. */
export interface Branch {
  v: number;
  a: State;
  n: State;
}

/** `true`: in the room; `false`: not; `'any'`: too many unknowns stacked up to say. */
export type State = boolean | 'any' | Branch;

/** Trees deeper than this become 'any' (never wrong, only less strict; counted in the report). */
const MAX_DEPTH = 6;

function depth(state: State): number {
  return typeof state === 'object' ? 1 + Math.max(depth(state.a), depth(state.n)) : 0;
}

function same(x: State, y: State): boolean {
  if (x === y) return true;
  if (typeof x !== 'object' || typeof y !== 'object') return false;
  return x.v === y.v && same(x.a, y.a) && same(x.n, y.n);
}

function branch(v: number, a: State, n: State): State {
  if (same(a, n)) return a;
  const built: Branch = { v, a, n };
  return depth(built) > MAX_DEPTH ? 'any' : built;
}

/** `condition ? then : otherwise`, where `condition` is itself a state. */
export function ite(condition: State, then: State, otherwise: State): State {
  if (condition === true) return then;
  if (condition === false) return otherwise;
  if (condition === 'any') return same(then, otherwise) ? then : 'any';
  return branch(condition.v, ite(condition.a, then, otherwise), ite(condition.n, then, otherwise));
}

/** The values a state can still take once some unknowns are decided. */
function possible(state: State, decided: Map<number, boolean>): { t: boolean; f: boolean } {
  if (state === true) return { t: true, f: false };
  if (state === false) return { t: false, f: true };
  if (state === 'any') return { t: true, f: true };
  const value = decided.get(state.v);
  if (value === true) return possible(state.a, decided);
  if (value === false) return possible(state.n, decided);
  const a = possible(state.a, decided);
  const n = possible(state.n, decided);
  return { t: a.t || n.t, f: a.f || n.f };
}

function unknownsOf(state: State, into: Set<number>): Set<number> {
  if (typeof state === 'object') {
    into.add(state.v);
    unknownsOf(state.a, into);
    unknownsOf(state.n, into);
  }
  return into;
}

export interface SocketEntry {
  id: string;
  server: number;
  alive: boolean;
  /** Rooms whose state is not plainly `false` (its own ID room is never listed). */
  rooms: Map<string, State>;
}

/** How an operation applied on one socket's server: surely (`true`), surely not (`false`), or as an unknown. */
export type Guard = (socket: SocketEntry) => State;

/** How a change reaches the sockets of a server cut off, if one is (see the header). */
export interface Reach {
  /** Sockets for which it is recorded (their server applies it when it catches up): not in that server's view yet. */
  recorded?: (socket: SocketEntry) => boolean;
  /** Applied by the cut-off server itself, which read its own view. */
  fromLocalView?: boolean;
}

/** What an operation's answer says of where it applied. */
export type Applied =
  /** Everywhere, except on the sockets `missed` names (those of a server the change did not reach). */
  | { outcome: 'confirmed'; missed?: (socket: SocketEntry) => boolean }
  /** Failed with a code: on the issuing server; on each other one entirely or not at all. */
  | { outcome: 'failed'; issuer: number }
  /** No answer (the issuer was killed, or the answer lost): on each server entirely or not at all. */
  | { outcome: 'unknown' };

export interface Mismatch {
  socketId: string;
  room: string;
  actual: boolean;
  /** 'certain': the model said the opposite for sure; 'unexplained': no choice of unknowns fits. */
  kind: 'certain' | 'unexplained';
}

export interface CheckResult {
  pairsChecked: number;
  mismatches: Mismatch[];
  /** Pairs whose state depended on failed operations when checked. */
  uncertainPairs: number;
  /** Pairs whose tree had grown past MAX_DEPTH ('any'). */
  anyPairs: number;
  /** Unknowns (failed operation × server) that the actual state constrained, and how. */
  unknownsResolved: { applied: number; notApplied: number };
  /** Unknowns no pair depended on any more (later confirmed operations overwrote them). */
  unknownsUnconstrained: number;
  /** Components too large to search exhaustively, checked pair by pair instead. */
  componentsCheckedPairwise: number;
}

const SEARCH_BUDGET = 200_000;

export class MembershipModel {
  readonly sockets = new Map<string, SocketEntry>();
  readonly unknowns: Unknown[] = [];
  /** The view of its own of a server cut off: socket ID → its rooms there. */
  private local: { server: number; rooms: Map<string, Map<string, State>> } | undefined;

  addSocket(id: string, server: number): void {
    this.sockets.set(id, { id, server, alive: true, rooms: new Map() });
  }

  /** How the operation `label` applied on each socket's server, from what its answer says. */
  guardFor(label: string, applied: Applied): Guard {
    if (applied.outcome === 'confirmed') {
      const { missed } = applied;
      return missed ? (socket) => !missed(socket) : () => true;
    }
    const unknowns = new Map<number, State>();
    const unknownOn = (server: number) => {
      if (!unknowns.has(server)) unknowns.set(server, this.unknown(`${label} on server-${server + 1}`));
      return unknowns.get(server)!;
    };
    // The change on the issuing server applies before the call returns; elsewhere it may or may not have.
    if (applied.outcome === 'failed') return (socket) => (socket.server === applied.issuer ? true : unknownOn(socket.server));
    return (socket) => unknownOn(socket.server);
  }

  /** A socket gone (its server killed, or it disconnected the socket): out of every room, and no longer checked. */
  disconnect(socketId: string): void {
    const socket = this.sockets.get(socketId);
    if (!socket) return;
    socket.alive = false;
    socket.rooms.clear();
    this.local?.rooms.delete(socketId);
  }

  /** `server` is cut off: from now on it has a view of its own of its sockets (see the header). */
  openLocalView(server: number): void {
    const rooms = new Map<string, Map<string, State>>();
    for (const socket of this.sockets.values()) if (socket.server === server && socket.alive) rooms.set(socket.id, new Map(socket.rooms));
    this.local = { server, rooms };
  }

  /** It caught up: the removals recorded for it are in its view too, which is the cluster's again. */
  closeLocalView(): void {
    this.local = undefined;
  }

  /** A socket's rooms in the view of its own of a server cut off, if its server is. */
  private localRooms(socket: SocketEntry): Map<string, State> | undefined {
    return this.local?.server === socket.server ? this.local.rooms.get(socket.id) : undefined;
  }

  /** Sets a pair in the cluster's state and, unless the change is recorded for the socket's server, in that server's view. */
  private write(socket: SocketEntry, room: string, applied: State, into: boolean, reach: Reach | undefined): void {
    this.set(socket, room, ite(applied, into, this.state(socket.id, room)));
    const view = this.localRooms(socket);
    if (!view || reach?.recorded?.(socket)) return;
    const state = ite(applied, into, view.get(room) ?? false);
    if (state === false) view.delete(room);
    else view.set(room, state);
  }

  /** Who may be in `room`, and the rooms each is in, as the operation read them. */
  private readMembers(room: string, reach: Reach | undefined): Array<{ socket: SocketEntry; rooms: Map<string, State> }> {
    const members: Array<{ socket: SocketEntry; rooms: Map<string, State> }> = [];
    for (const socket of this.sockets.values()) {
      if (!socket.alive) continue;
      const view = reach?.fromLocalView ? this.localRooms(socket) : undefined;
      const rooms = view ?? socket.rooms;
      if (rooms.has(room)) members.push({ socket, rooms });
    }
    return members;
  }

  /** A fresh unknown: whether some failed operation applied on some server. */
  unknown(label: string): State {
    const id = this.unknowns.length;
    this.unknowns.push({ id, label });
    return { v: id, a: true, n: false };
  }

  state(socketId: string, room: string): State {
    return this.sockets.get(socketId)?.rooms.get(room) ?? false;
  }

  private set(socket: SocketEntry, room: string, state: State): void {
    if (state === false) socket.rooms.delete(room);
    else socket.rooms.set(room, state);
  }

  join(ids: readonly string[], rooms: readonly string[], guard: Guard, reach?: Reach): void {
    this.change(ids, rooms, guard, true, reach);
  }

  leave(ids: readonly string[], rooms: readonly string[], guard: Guard, reach?: Reach): void {
    this.change(ids, rooms, guard, false, reach);
  }

  private change(ids: readonly string[], rooms: readonly string[], guard: Guard, into: boolean, reach: Reach | undefined): void {
    for (const id of new Set(ids)) {
      const socket = this.sockets.get(id);
      if (!socket?.alive) continue;
      const applied = guard(socket);
      for (const room of new Set(rooms)) this.write(socket, room, applied, into, reach);
    }
  }

  /** addRoomMembersToRooms (`into` true) and removeRoomMembersFromRooms (`into` false). */
  roomToRooms(sourceRoom: string, rooms: readonly string[], guard: Guard, into: boolean, reach?: Reach): void {
    for (const { socket, rooms: read } of this.readMembers(sourceRoom, reach)) {
      const applied = ite(guard(socket), read.get(sourceRoom) ?? false, false);
      for (const room of new Set(rooms)) this.write(socket, room, applied, into, reach);
    }
  }

  leaveAll(sourceRoom: string, includeSourceRoom: boolean, guard: Guard, reach?: Reach): void {
    for (const { socket, rooms: read } of this.readMembers(sourceRoom, reach)) {
      const applied = ite(guard(socket), read.get(sourceRoom) ?? false, false);
      for (const room of [...read.keys()]) {
        if (room === sourceRoom && !includeSourceRoom) continue;
        this.write(socket, room, applied, false, reach);
      }
    }
  }

  /**
   * Members `room` surely has, and sockets that may or may not be in it; `reach.fromLocalView`: as
   * the server cut off reads its own sockets (see readMembers).
   */
  membersOf(room: string, reach?: Reach): { sure: string[]; unsure: string[] } {
    const sure: string[] = [];
    const unsure: string[] = [];
    for (const { socket, rooms } of this.readMembers(room, reach)) {
      (rooms.get(room) === true ? sure : unsure).push(socket.id);
    }
    return { sure, unsure };
  }

  /** Forgets every membership (the soak resets the cluster between its phases). */
  clear(): void {
    for (const socket of this.sockets.values()) socket.rooms.clear();
    this.unknowns.length = 0;
    this.local = undefined;
  }

  /**
   * Compares the model with the actual membership of every live socket that `only` accepts
   * (`actual`: socket ID → its rooms). Missing live sockets count as mismatches on every room the
   * model expects.
   */
  check(
    actual: ReadonlyMap<string, readonly string[]>,
    roomFilter: (room: string) => boolean = () => true,
    only: (socket: SocketEntry) => boolean = () => true,
  ): CheckResult {
    const result: CheckResult = {
      pairsChecked: 0, mismatches: [], uncertainPairs: 0, anyPairs: 0,
      unknownsResolved: { applied: 0, notApplied: 0 }, unknownsUnconstrained: 0, componentsCheckedPairwise: 0,
    };
    const constraints: Array<{ socketId: string; room: string; state: State; actual: boolean }> = [];
    for (const socket of this.sockets.values()) {
      if (!socket.alive || !only(socket)) continue;
      const actualRooms = new Set((actual.get(socket.id) ?? []).filter(roomFilter));
      const rooms = new Set([...actualRooms, ...[...socket.rooms.keys()].filter(roomFilter)]);
      for (const room of rooms) {
        result.pairsChecked += 1;
        const state = this.state(socket.id, room);
        const isIn = actualRooms.has(room);
        if (state === 'any') { result.anyPairs += 1; continue; }
        if (typeof state === 'boolean') {
          if (state !== isIn) result.mismatches.push({ socketId: socket.id, room, actual: isIn, kind: 'certain' });
          continue;
        }
        result.uncertainPairs += 1;
        constraints.push({ socketId: socket.id, room, state, actual: isIn });
      }
    }

    // Unknowns linked by a pair must be decided together: search each linked group on its own.
    const parent = new Map<number, number>();
    const find = (x: number): number => {
      let root = x;
      while (parent.get(root) !== undefined && parent.get(root) !== root) root = parent.get(root)!;
      parent.set(x, root);
      return root;
    };
    const constraintUnknowns = constraints.map((c) => [...unknownsOf(c.state, new Set())]);
    for (const vars of constraintUnknowns) {
      for (const v of vars) if (!parent.has(v)) parent.set(v, v);
      for (const v of vars.slice(1)) parent.set(find(v), find(vars[0]!));
    }
    const components = new Map<number, number[]>();
    constraints.forEach((_, i) => {
      const root = find(constraintUnknowns[i]![0]!);
      components.set(root, [...(components.get(root) ?? []), i]);
    });
    const constrained = new Set(parent.keys());
    // Of all unknowns: with `only`, those of the other sockets count as unconstrained here.
    result.unknownsUnconstrained = this.unknowns.length - constrained.size;

    for (const members of components.values()) {
      const vars = [...new Set(members.flatMap((i) => constraintUnknowns[i]!))];
      const byVar = new Map<number, number[]>();
      for (const i of members) for (const v of constraintUnknowns[i]!) byVar.set(v, [...(byVar.get(v) ?? []), i]);
      // Most constrained first: decisions prune early.
      vars.sort((x, y) => byVar.get(y)!.length - byVar.get(x)!.length);
      const decided = new Map<number, boolean>();
      let budget = SEARCH_BUDGET;
      const fits = (i: number) => {
        const values = possible(constraints[i]!.state, decided);
        return constraints[i]!.actual ? values.t : values.f;
      };
      const search = (k: number): boolean | 'budget' => {
        if (k === vars.length) return true;
        if (--budget < 0) return 'budget';
        const v = vars[k]!;
        for (const value of [false, true]) {
          decided.set(v, value);
          if (byVar.get(v)!.every(fits)) {
            const found = search(k + 1);
            if (found !== false) return found;
          }
        }
        decided.delete(v);
        return false;
      };
      const found = members.every(fits) ? search(0) : false;
      if (found === true) {
        for (const v of vars) {
          if (decided.get(v)) result.unknownsResolved.applied += 1;
          else result.unknownsResolved.notApplied += 1;
        }
        continue;
      }
      if (found === 'budget') {
        // Too large to search: each pair must at least be explainable on its own.
        result.componentsCheckedPairwise += 1;
        decided.clear();
        for (const i of members) {
          if (!fits(i)) result.mismatches.push({ socketId: constraints[i]!.socketId, room: constraints[i]!.room, actual: constraints[i]!.actual, kind: 'unexplained' });
        }
        continue;
      }
      // No choice explains these pairs together: report those that fail under the best partial search.
      decided.clear();
      const failing = members.filter((i) => !fits(i));
      for (const i of failing.length > 0 ? failing : members) {
        result.mismatches.push({ socketId: constraints[i]!.socketId, room: constraints[i]!.room, actual: constraints[i]!.actual, kind: 'unexplained' });
      }
    }
    return result;
  }
}
