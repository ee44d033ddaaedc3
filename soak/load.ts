/**
 * The soak's load: groups of sockets and rooms, each running one random operation at a time on a
 * random live server. Each answer is applied to the model as what it says (confirmed: applied
 * everywhere it reached; failed with a code: on the issuer, maybe elsewhere) and its result kept
 * to be judged at the end (findings.ts). About a third of the joins and leaves of one socket and
 * one room broadcast an announcement from their callback: an ordering sample.
 *
 * Each group owns its sockets and rooms, so the model knows the order in which its operations took
 * effect; the groups run concurrently. See README, "Reliability".
 */
import { waitFor } from '../test/support/events';
import type { Answer, SoakServer } from './cluster';
import type { Fleet, FleetSocket } from './fleet';
import type { Findings } from './findings';
import type { Applied, MembershipModel, Reach, SocketEntry, State } from './model';
import type { randomGenerator } from './stats';
import type { Timeline } from './timeline';

export type OpType = 'join' | 'leave' | 'self-join' | 'self-leave' | 'add-members' | 'remove-members' | 'leave-all' | 'rooms-of' | 'members';
/** 'socket-dropped': a socket's own request got no answer because its server disconnected it meanwhile (fleet.ts). */
export type Outcome = 'confirmed' | 'failed' | 'issuer-killed' | 'socket-dropped' | 'lost';

export const MEMBERSHIP_TYPES: readonly OpType[] = ['join', 'leave', 'self-join', 'self-leave', 'add-members', 'remove-members', 'leave-all'];
const REMOVALS: readonly OpType[] = ['leave', 'remove-members', 'leave-all'];

export interface OpRecord {
  n: number;
  type: OpType;
  server: number;
  start: number;
  end: number;
  outcome: Outcome;
  code?: string;
  /** Confirmed while servers were cut off from the cluster that it may concern (its result's `unreachableServers`). */
  withoutServers?: number;
  /** Of its socket IDs, those its result calls `unreachable`. */
  unreachableIds?: number;
}

/** A removal confirmed without a server cut off: recorded for that server, which applies it when it comes back. */
export const recordedForCutOff = (r: OpRecord): boolean => r.outcome === 'confirmed' && REMOVALS.includes(r.type)
  && (r.type === 'leave' ? (r.unreachableIds ?? 0) > 0 : (r.withoutServers ?? 0) > 0);
/** A join or add confirmed without a server cut off: it did not reach that server's sockets. */
export const missedCutOff = (r: OpRecord): boolean => r.outcome === 'confirmed'
  && (r.type === 'join' ? (r.unreachableIds ?? 0) > 0 : r.type === 'add-members' && (r.withoutServers ?? 0) > 0);

export interface Group {
  sockets: FleetSocket[];
  rooms: string[];
}

export interface OrderingSample {
  /** 'join-unreachable': a join confirmed with the socket `unreachable`; it did not reach it, so its announcement must not. */
  type: 'join' | 'leave' | 'join-unreachable';
  op: number;
  socket: FleetSocket;
  /** The server that confirmed it and sent the announcement, and the socket's server. */
  issuer: number;
  server: number;
  start: number;
  /** When the operation's answer arrived. */
  answered: number;
  /** When the check ended: the announcement travelled until then. */
  end: number;
  /** Join: the announcement arrived. Leave (and unreachable join): it did not, and the flush after it did. Null: could not tell. */
  kept: boolean | null;
  /** Why it could not tell. */
  unverifiable?: 'socket gone' | 'sender killed' | 'no flush' | 'maybe in the room already';
  /** The announcement reached the socket (whatever that means for its type). */
  announced: boolean;
}

/** How long a sample may wait for its announcement or flush before it is counted as missed or unverifiable. */
const SAMPLE_WAIT_MS = 3000;
/** A failed operation is retried by a real client after a pause, not in a tight loop. */
const FAILURE_PAUSE_MS = 20;

export interface LoadContext {
  groups: number;
  roomsPerGroup: number;
  timeoutMs: number;
  rng: ReturnType<typeof randomGenerator>;
  servers: readonly SoakServer[];
  fleet: Fleet;
  model: MembershipModel;
  timeline: Timeline;
  findings: Findings;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** The history key of a room's operations (findings.ts), beside those of sockets. */
export const roomKey = (room: string): string => `room ${room}`;

export class Load {
  /** Warm-up operations change the cluster but are not recorded; samples are taken in the main run only. */
  phase: 'warmup' | 'main' = 'warmup';
  readonly groups: Group[];
  readonly records: OpRecord[] = [];
  readonly samples: OrderingSample[] = [];
  warmupOps = 0;
  broadcasts = 0;
  private opCounter = 0;
  private readonly deadlineMs: number;
  /** Groups inside an operation now. */
  private readonly busy = new Set<Group>();
  /** Groups told to wait before their next operation, until `released`. */
  private held: { groups: Set<Group>; released: Promise<void> } | undefined;

  constructor(private readonly ctx: LoadContext) {
    this.groups = Array.from({ length: ctx.groups }, (_, g) => ({
      sockets: ctx.fleet.sockets.filter((_, i) => i % ctx.groups === g),
      rooms: Array.from({ length: ctx.roomsPerGroup }, (_, r) => `g${g}-r${r}`),
    }));
    this.deadlineMs = ctx.timeoutMs + 5000;
  }

  liveServers(): SoakServer[] {
    return this.ctx.servers.filter((server) => server.alive);
  }

  /** Runs every group for `durationMs`. */
  async run(durationMs: number): Promise<void> {
    const until = performance.now() + durationMs;
    await Promise.all(this.groups.map(async (group) => {
      while (performance.now() < until) {
        if (this.held?.groups.has(group)) {
          await this.held.released;
          continue;
        }
        this.busy.add(group);
        try {
          await this.step(group);
        } finally {
          this.busy.delete(group);
        }
      }
    }));
  }

  /**
   * Stops the groups `which` selects before their next operation and resolves, once none is inside
   * one, with the function that lets them go on (the others keep running).
   */
  async quiesce(which: (group: Group) => boolean, timeoutMs: number): Promise<() => void> {
    const groups = new Set(this.groups.filter(which));
    let resolve!: () => void;
    const released = new Promise<void>((done) => { resolve = done; });
    const held = { groups, released };
    this.held = held;
    const release = () => {
      if (this.held === held) this.held = undefined;
      resolve();
    };
    try {
      await waitFor(() => [...groups].every((group) => !this.busy.has(group)), 'the groups to finish their operations', timeoutMs);
    } catch (err) {
      release();
      throw err;
    }
    return release;
  }

  private aliveSockets(group: Group): FleetSocket[] {
    return group.sockets.filter((socket) => this.ctx.servers[socket.server]!.alive && socket.connected);
  }

  private serverOf(socketId: string): number | undefined {
    return this.ctx.model.sockets.get(socketId)?.server;
  }

  private classify(answer: Answer, server: SoakServer): { outcome: Outcome; code?: string } {
    if (answer.status === 200) return { outcome: 'confirmed' };
    const code = (answer.body as { code?: string } | undefined)?.code;
    if (answer.status === 503 && (code === 'E_TIMEOUT' || code === 'E_UNAVAILABLE')) return { outcome: 'failed', code };
    if (answer.status === null && !server.alive) return { outcome: 'issuer-killed' };
    return { outcome: 'lost', code: answer.status === null ? `no answer (${answer.error}: ${answer.detail})` : `HTTP ${answer.status}` };
  }

  /** What an answer says of where the change applied; `missed`: sockets a confirmed change did not reach. */
  private appliedOf(outcome: Outcome, issuer: number, missed?: (socket: SocketEntry) => boolean): Applied {
    if (outcome === 'confirmed') return { outcome, missed };
    if (outcome === 'failed') return { outcome, issuer };
    return { outcome: 'unknown' };
  }

  private record(n: number, type: OpType, server: SoakServer, start: number, result: { outcome: Outcome; code?: string }, answer?: Answer): number {
    const end = performance.now();
    if (this.phase === 'warmup') this.warmupOps += 1;
    else {
      const body = result.outcome === 'confirmed' ? answer?.body as { unreachableServers?: number; unreachable?: string[] } | undefined : undefined;
      this.records.push({
        n, type, server: server.index, start, end, outcome: result.outcome, code: result.code,
        withoutServers: body?.unreachableServers, unreachableIds: body?.unreachable?.length,
      });
    }
    if (result.outcome === 'lost') this.ctx.findings.anomaly({ kind: 'lost', n, type, server: server.name, code: result.code, body: answer?.body });
    return end;
  }

  /**
   * The group waits while a sample is checked, so nothing else changes the socket's rooms meanwhile.
   * A join's announcement must arrive. A leave's must not (nor that of a join that did not reach the
   * socket, if it was not in the room): once a message the same server sent later to the socket's
   * own ID room (a flush) has arrived, it never will.
   */
  private async checkOrdering(type: OrderingSample['type'], op: number, socket: FleetSocket, server: SoakServer, start: number, answered: number, before: State): Promise<OrderingSample> {
    const { servers } = this.ctx;
    const within = (condition: () => boolean) => waitFor(condition, 'a sample', SAMPLE_WAIT_MS).then(() => true, () => false);
    const sample = (kept: boolean | null, announced: boolean, unverifiable?: OrderingSample['unverifiable']): OrderingSample => {
      const base = { type, op, socket, issuer: server.index, server: socket.server, start, answered, end: performance.now(), announced };
      // A socket gone meanwhile (its server killed, or it disconnected the socket) tells nothing.
      if (!socket.connected || !servers[socket.server]!.alive) return { ...base, kept: null, unverifiable: 'socket gone' };
      // A server answers HTTP before its broadcast has left for Redis (node-redis writes on the next
      // turn of its loop): killed meanwhile, it may never have sent the announcement.
      if (!server.alive) return { ...base, kept: null, unverifiable: 'sender killed' };
      return { ...base, kept, unverifiable: kept === null ? unverifiable : undefined };
    };
    if (type === 'join') {
      const arrived = await within(() => socket.announcements.has(op));
      return sample(arrived, arrived);
    }
    // A join that did not reach a socket already in the room may still reach it: nothing to check.
    if (type === 'join-unreachable' && before !== false) return sample(null, socket.announcements.has(op), 'maybe in the room already');
    const sent = await server.call('POST', '/rooms/broadcast', { roomName: socket.id, eventName: 'soak:flush', data: { flush: op } }, this.deadlineMs);
    const flushed = sent.status === 200 && await within(() => socket.flushes.has(op));
    const announced = socket.announcements.has(op);
    return sample(flushed ? !announced : null, announced, 'no flush');
  }

  private async byId(group: Group, type: 'join' | 'leave', server: SoakServer) {
    const { rng, model, timeline, findings, servers } = this.ctx;
    const alive = this.aliveSockets(group);
    if (alive.length === 0) return;
    const targets = rng.sample(alive, rng.next() < 0.7 ? 1 : 2 + rng.int(2));
    const rooms = rng.sample(group.rooms, rng.next() < 0.8 ? 1 : 2);
    const n = ++this.opCounter;
    const sampled = targets.length === 1 && rooms.length === 1 && rng.next() < 0.3;
    const ids = targets.map((socket) => socket.id);
    const body: Record<string, unknown> = { socketId: ids.length === 1 ? ids[0] : ids, roomName: rooms.length === 1 ? rooms[0] : rooms };
    if (sampled) body.announce = type === 'leave' ? { leaveOf: ids[0], op: n } : { joinOf: ids[0], op: n };
    const before = model.state(ids[0]!, rooms[0]!);
    const start = performance.now();
    const answer = await server.call('POST', type === 'join' ? '/rooms/add-socket' : '/rooms/remove-socket', body, this.deadlineMs);
    const result = this.classify(answer, server);
    const end = this.record(n, type, server, start, result, answer);
    // Confirmed with sockets `unreachable`: a leave is recorded for their server, a join did not reach them.
    const unreachable = new Set<string>(result.outcome === 'confirmed' ? answer.body.unreachable ?? [] : []);
    const guard = model.guardFor(`op ${n} (${type})`, this.appliedOf(result.outcome, server.index, type === 'join' ? (socket) => unreachable.has(socket.id) : undefined));
    if (type === 'join') model.join(ids, rooms, guard);
    else model.leave(ids, rooms, guard, { recorded: (socket) => unreachable.has(socket.id) });
    findings.trace([...ids, ...rooms.map(roomKey)], `#${n} ${type} ${ids.length} socket(s) ${rooms} via ${server.name} ${timeline.since(start)}..${timeline.since(end)}: ${result.outcome} ${result.code ?? ''} ${JSON.stringify(answer.body)?.slice(0, 160)}`);
    if (result.outcome === 'confirmed') {
      const allAlive = targets.every((socket) => servers[socket.server]!.alive);
      const got = answer.body as { matched: number; servers: number; notFound: string[]; unreachable?: string[]; unreachableServers?: number };
      findings.judgeLater({
        kind: 'result count', socketIds: ids, start, end, entry: { n, type, ids, rooms, via: server.name, body: got },
        problems: (tl) => {
          if (!allAlive || tl.killedDuring(start, end)) return null;
          const problems: string[] = [];
          const cutOff = tl.cutOffDuring(start, end);
          for (const id of unreachable) if (cutOff === undefined || this.serverOf(id) !== cutOff) problems.push(`${id} unreachable, its server not cut off`);
          if (got.notFound.length !== 0) problems.push(`notFound ${got.notFound}`);
          if (got.matched !== ids.length - unreachable.size) problems.push(`matched ${got.matched} of ${ids.length} (${unreachable.size} unreachable)`);
          // Confirmed means the servers holding the sockets applied it: each must have answered.
          const holders = new Set(targets.filter((socket) => !unreachable.has(socket.id)).map((socket) => socket.server).filter((index) => index !== server.index));
          if (got.servers < 1 + holders.size) problems.push(`${got.servers} server(s) answered, ${1 + holders.size} hold them`);
          if (unreachable.size > 0 && !((got.unreachableServers ?? 0) > 0)) problems.push('sockets unreachable, no server cut off');
          if (got.servers + (got.unreachableServers ?? 0) > servers.length) problems.push('a server counted both as answering and as cut off');
          return problems;
        },
      });
      if (sampled && this.phase === 'main') {
        const kind = type === 'join' && unreachable.has(ids[0]!) ? 'join-unreachable' : type;
        this.samples.push(await this.checkOrdering(kind, n, targets[0]!, server, start, end, before));
      }
    }
    return result;
  }

  private async self(group: Group, type: 'self-join' | 'self-leave') {
    const { rng, model, timeline, findings, servers } = this.ctx;
    const alive = this.aliveSockets(group);
    if (alive.length === 0) return;
    const socket = rng.pick(alive);
    const server = servers[socket.server]!;
    const rooms = rng.sample(group.rooms, rng.next() < 0.85 ? 1 : 2);
    const n = ++this.opCounter;
    const start = performance.now();
    let answer: Answer;
    try {
      const response = await socket.client.request('post', type === 'self-join' ? '/rooms/join-fun-room' : '/rooms/leave-fun-room', { roomName: rooms.length === 1 ? rooms[0] : rooms });
      answer = { status: response.statusCode, body: response.body, ms: performance.now() - start };
    } catch (err) {
      answer = { status: null, body: undefined, error: 'network', detail: (err as Error).message, ms: performance.now() - start };
    }
    const expected = `${type === 'self-join' ? 'Joined' : 'Left'} a fun room called ${rooms.join(',')}!`;
    const result = answer.status === 200 && answer.body?.message !== expected
      ? { outcome: 'lost' as const, code: 'unexpected message' }
      : answer.status === null && !socket.connected && server.alive
        ? { outcome: 'socket-dropped' as const }
        : this.classify(answer, server);
    const end = this.record(n, type, server, start, result, answer);
    const guard = model.guardFor(`op ${n} (${type})`, this.appliedOf(result.outcome, server.index));
    if (type === 'self-join') model.join([socket.id], rooms, guard);
    else model.leave([socket.id], rooms, guard);
    findings.trace([socket.id, ...rooms.map(roomKey)], `#${n} ${type} ${socket.id.slice(0, 6)} ${rooms} ${timeline.since(start)}..${timeline.since(end)}: ${result.outcome} ${result.code ?? ''}`);
    return result;
  }

  private async roomToRooms(group: Group, type: 'add-members' | 'remove-members' | 'leave-all', server: SoakServer) {
    const { rng, model, timeline, findings, servers } = this.ctx;
    const sourceRoom = rng.pick(group.rooms);
    const destRooms = rng.sample(group.rooms.filter((room) => room !== sourceRoom), rng.next() < 0.7 ? 1 : 2);
    const includeSourceRoom = rng.next() < 0.7;
    const n = ++this.opCounter;
    const body: Record<string, unknown> = type === 'leave-all'
      ? { operation: 'leaveAll', sourceRoom, ...(includeSourceRoom ? {} : { options: { includeSourceRoom: false } }) }
      : { operation: type === 'add-members' ? 'add' : 'remove', sourceRoom, destRooms: destRooms.length === 1 ? destRooms[0] : destRooms };
    // Asked of the server cut off, before it is back: it reads its own sockets from its own view when
    // it is called, even if the operation then waits (whenRedisDown 'wait') and is confirmed after its catch-up.
    const askedWhileCutOff = server.index === timeline.partitioned && timeline.cutAt !== undefined && timeline.rejoinedAt === undefined;
    const members = model.membersOf(sourceRoom, { fromLocalView: askedWhileCutOff });
    const start = performance.now();
    const answer = await server.call('POST', '/rooms/room-to-rooms', body, this.deadlineMs);
    const result = this.classify(answer, server);
    const end = this.record(n, type, server, start, result, answer);
    const got = answer.body as { matched: number; servers: number; unreachableServers?: number };
    // Confirmed without a server cut off: a removal is recorded for it, an add did not reach its sockets.
    const cutOff = result.outcome === 'confirmed' && (got.unreachableServers ?? 0) > 0 ? timeline.cutOffDuring(start, end) : undefined;
    const missed = type === 'add-members' && cutOff !== undefined ? (socket: SocketEntry) => socket.server === cutOff : undefined;
    const guard = model.guardFor(`op ${n} (${type})`, this.appliedOf(result.outcome, server.index, missed));
    const reach: Reach = {
      recorded: type !== 'add-members' && cutOff !== undefined ? (socket) => socket.server === cutOff : undefined,
      // Refused by the server cut off (before it caught up), after it applied the change from its own view.
      fromLocalView: askedWhileCutOff || (server.index === timeline.partitioned && result.outcome === 'failed' && result.code === 'E_UNAVAILABLE'),
    };
    const touched = type === 'leave-all' ? group.rooms : [sourceRoom, ...destRooms];
    findings.trace([...members.sure, ...members.unsure, ...touched.map(roomKey)], `#${n} ${type} ${sourceRoom} -> ${type === 'leave-all' ? `includeSourceRoom ${includeSourceRoom}` : destRooms} via ${server.name} ${timeline.since(start)}..${timeline.since(end)}: ${result.outcome} ${result.code ?? ''} ${JSON.stringify(answer.body)?.slice(0, 120)}`);
    if (type === 'leave-all') model.leaveAll(sourceRoom, includeSourceRoom, guard, reach);
    else model.roomToRooms(sourceRoom, destRooms, guard, type === 'add-members', reach);
    if (result.outcome === 'confirmed') {
      findings.judgeLater({
        kind: 'result count', socketIds: [...members.sure, ...members.unsure], start, end,
        entry: { n, type, sourceRoom, via: server.name, members: [members.sure.length, members.sure.length + members.unsure.length], body: got },
        problems: (tl) => {
          if (tl.killedDuring(start, end)) return null;
          const problems: string[] = [];
          const unreachableServers = got.unreachableServers ?? 0;
          // Every server of the record answered or was counted cut off (the killed one stays fenced in it).
          if (got.servers + unreachableServers !== servers.length) problems.push(`${got.servers} answered + ${unreachableServers} cut off, of ${servers.length}`);
          const cut = unreachableServers > 0 ? tl.cutOffDuring(start, end) : undefined;
          const afterKill = tl.serverKilledAt !== undefined && end >= tl.serverKilledAt;
          if (unreachableServers > 0 && cut === undefined && !afterKill) problems.push('servers cut off, but none was');
          // The members of a server cut off were not asked.
          const counted = (id: string) => cut === undefined || this.serverOf(id) !== cut;
          const sure = members.sure.filter(counted).length;
          const maybe = members.unsure.filter(counted).length;
          if (got.matched < sure || got.matched > sure + maybe) problems.push(`matched ${got.matched}, expected ${sure}..${sure + maybe}`);
          return problems;
        },
      });
    }
    return result;
  }

  private async query(group: Group, type: 'rooms-of' | 'members', server: SoakServer) {
    const { rng, model, timeline, findings } = this.ctx;
    const alive = this.aliveSockets(group);
    if (alive.length === 0) return;
    const n = ++this.opCounter;
    const socket = rng.pick(alive);
    const room = rng.pick(group.rooms);
    const start = performance.now();
    const answer = type === 'rooms-of'
      ? await server.call('GET', `/rooms/rooms-of?socketId=${encodeURIComponent(socket.id)}`, undefined, this.deadlineMs)
      : await server.call('GET', `/rooms/members?roomName=${encodeURIComponent(room)}`, undefined, this.deadlineMs);
    const result = this.classify(answer, server);
    const end = this.record(n, type, server, start, result, answer);
    findings.trace(type === 'rooms-of' ? [socket.id] : [], `#${n} rooms-of via ${server.name} ${timeline.since(start)}..${timeline.since(end)}: ${result.outcome} ${JSON.stringify(answer.body)?.slice(0, 120)}`);
    if (result.outcome !== 'confirmed') return result;
    // Against the model as it is now: the group waits for the answer, nothing else changes its rooms.
    const wrong: string[] = [];
    if (type === 'rooms-of') {
      const rooms: string[] | null = answer.body.rooms;
      if (rooms === null) wrong.push('null');
      for (const r of group.rooms) {
        const state = model.state(socket.id, r);
        if (state === true && !rooms?.includes(r)) wrong.push(`missing ${r}`);
        if (state === false && rooms?.includes(r)) wrong.push(`extra ${r}`);
      }
    } else {
      const listed = new Set<string>(answer.body.members);
      for (const member of alive) {
        const state = model.state(member.id, room);
        if (state === true && !listed.has(member.id)) wrong.push(`missing ${member.id}`);
        if (state === false && listed.has(member.id)) wrong.push(`extra ${member.id}`);
      }
    }
    const about = type === 'rooms-of' ? [socket.id] : alive.map((member) => member.id);
    findings.judgeLater({
      kind: 'query', socketIds: about, start, end, entry: { n, type, server: server.name, socket: socket.id, room },
      problems: (tl) => {
        if (tl.killedDuring(start, end)) return null;
        // Cut off, it answers about its own sockets from what it knows: removals recorded for it apply when it comes back.
        if (tl.answeredWhileCutOff(server.index, start, end) && socket.server === server.index) return null;
        return wrong;
      },
    });
    return result;
  }

  private async broadcast(group: Group, server: SoakServer) {
    const { rng, findings } = this.ctx;
    const answer = await server.call('POST', '/rooms/broadcast', { roomName: rng.pick(group.rooms), data: { load: true } }, this.deadlineMs);
    if (this.phase === 'main') this.broadcasts += 1;
    if (answer.status !== 200 && server.alive) findings.anomaly({ kind: 'broadcast', server: server.name, status: answer.status, detail: answer.detail });
  }

  private async step(group: Group) {
    const { rng } = this.ctx;
    const server = rng.pick(this.liveServers());
    const r = rng.int(100);
    let result: { outcome: Outcome } | undefined;
    if (r < 24) result = await this.byId(group, 'join', server);
    else if (r < 48) result = await this.byId(group, 'leave', server);
    else if (r < 54) result = await this.self(group, 'self-join');
    else if (r < 60) result = await this.self(group, 'self-leave');
    else if (r < 67) result = await this.roomToRooms(group, 'add-members', server);
    else if (r < 74) result = await this.roomToRooms(group, 'remove-members', server);
    else if (r < 79) result = await this.roomToRooms(group, 'leave-all', server);
    else if (r < 85) result = await this.query(group, 'rooms-of', server);
    else if (r < 90) result = await this.query(group, 'members', server);
    else await this.broadcast(group, server);
    if (result && result.outcome !== 'confirmed') await sleep(FAILURE_PAUSE_MS);
  }
}
