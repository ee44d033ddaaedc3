/**
 * Case 6, scale (`npm run scale`, apart from `npm run bench`: it lifts 62 servers). One Redis and
 * N servers with sails-hook-rooms, each holding SOCKETS simulated sockets in room SOURCE. From
 * server 0, one operation at a time:
 * - routed: a by-ID leave, then join, of a socket on the last server, whose route server 0 knows;
 * - first touch: a by-ID leave of a socket server 0 never named before (its ID names its server),
 *   on the last server between the routed operations, and on each other server in turn;
 * - room to room: addRoomMembersToRooms / removeRoomMembersFromRooms of SOURCE's members (every
 *   server answers);
 * - floors: a raw fan-out round trip (one PUBLISH, the N−1 other servers echo it, until every
 *   echo came back), and the same with every server first moving its members of SOURCE in or
 *   out of a room of its own through socket.io, the socket.io work of a room-to-room
 *   operation; both between our operations, in the same processes. Then, alone, the plain
 *   fan-out and one whose echoes parse and encode the message again, as a server handling a
 *   request does.
 * Also per N: Redis messages per operation, presence messages per second, each server's
 * lift-to-ready time, and Redis' CPU while the operations ran.
 */
import { now } from '../support/clock';
import { startEcho, startPinger } from '../support/floor';
import type { Commands } from '../support/server-context';
import { percentile } from '../support/stats';

export const SOURCE = 's6-source';
export const DEST = 's6-dest';
/** The room of the last server's sockets kept for first touches, apart from SOURCE's members. */
export const FRESH = 's6-fresh';
/** Where the applying fan-out moves SOURCE's members: a room our operations never name. */
const FLOOR_ROOM = 's6-floor';
export const SOCKETS = 40;

let closeEcho: (() => Promise<void>) | undefined;
let fanout: Awaited<ReturnType<typeof startPinger>> | undefined;

type Result = { matched: number; servers: number };

export interface ByIdSamples {
  routed: number[];
  /** First touches of the last server's sockets, between the routed operations. */
  firstTouchSame: number[];
  /** First touches of each other server's sockets in turn. */
  firstTouch: number[];
  /** Raw round trips to the last server, between routed operations; to each server in turn, between first touches. */
  floorSame: number[];
  floorRotating: number[];
}

export interface RoomToRoomSamples {
  roomToRoom: number[];
  fanout: number[];
  applyingFanout: number[];
}

/**
 * Raw socket.io work as a room-to-room operation does on one server: this server's members of
 * SOURCE join FLOOR_ROOM, or leave it when they are in.
 */
function movingMembers(nsp: import('socket.io').Namespace): () => void {
  return () => {
    const inFloor = nsp.adapter.rooms.has(FLOOR_ROOM);
    for (const id of nsp.adapter.rooms.get(SOURCE) ?? []) {
      const socket = nsp.sockets.get(id);
      if (!socket) continue;
      void (inFloor ? socket.leave(FLOOR_ROOM) : socket.join(FLOOR_ROOM));
    }
  };
}

/** The latency (ms) of one operation, which `check` says did what it should. */
function timed(run: (cb: (err?: unknown, result?: unknown) => void) => void, check: (result: Result) => boolean, what: string) {
  return new Promise<number>((resolve, reject) => {
    const start = now();
    run((err, result) => {
      const rtt = now() - start;
      if (err) return reject(err);
      if (!check(result as Result)) return reject(new Error(`${what}: ${JSON.stringify(result)}`));
      resolve(rtt);
    });
  });
}

const one = (result: Result) => result.matched === 1;
const all = (result: Result) => result.matched > 0;

export const serverCommands: Commands = {
  scaleEcho: async ({ spec, nsp }, { parse }: { parse: boolean }) => {
    await closeEcho?.();
    closeEcho = await startEcho(spec.redisUrl!, { parse, name: spec.name, apply: movingMembers(nsp) });
  },
  scaleFanoutPinger: async ({ spec }, { replies }: { replies: number }) => {
    await fanout?.close();
    fanout = await startPinger(spec.redisUrl!, replies);
  },
  scaleStopFloors: async () => {
    await Promise.all([closeEcho?.(), fanout?.close()]);
    closeEcho = undefined;
    fanout = undefined;
  },

  /** How many servers answer a whole-cluster operation (this one included). */
  scaleClusterSize: ({ sails }) => new Promise<number>((resolve, reject) => {
    sails.sockets.removeRoomMembersFromRooms('s6-nobody', ['s6-nowhere'], (err, result) => (err ? reject(err) : resolve((result as Result).servers)));
  }),

  /**
   * On server 0, by ID, one at a time: routed leaves and joins, each pair followed by a raw round
   * trip and a first touch of another socket of the same server (`fresh`, in room FRESH); then
   * first touches of each other server in turn. On their own: only two servers take part, and
   * they should not pay for the tail of a fan-out that woke every server just before.
   */
  scaleById: async ({ sails }, { routedId, routedServer, fresh, untouched, samples }: {
    routedId: string; routedServer: string; fresh: string[]; untouched: Array<{ id: string; server: string }>; samples: number;
  }) => {
    const out: ByIdSamples = { routed: [], firstTouchSame: [], firstTouch: [], floorSame: [], floorRotating: [] };
    // The first operation on routedId is left out of the samples, as in the other cases.
    await timed((cb) => sails.sockets.leave(routedId, SOURCE, cb), one, 'first leave');
    await timed((cb) => sails.sockets.join(routedId, SOURCE, cb), one, 'first join');
    for (let i = 0; i < samples; i++) {
      out.routed.push(await timed((cb) => sails.sockets.leave(routedId, SOURCE, cb), one, 'routed leave'));
      out.routed.push(await timed((cb) => sails.sockets.join(routedId, SOURCE, cb), one, 'routed join'));
      out.floorSame.push(await fanout!.ping(routedServer));
      const id = fresh[i]!;
      out.firstTouchSame.push(await timed((cb) => sails.sockets.leave(id, FRESH, cb), one, `first touch of ${id}`));
    }
    // Each first touch wakes a server that has been idle while the others were touched; so does
    // each raw round trip here, to the server half a turn away.
    const turn = [...new Set(untouched.map((socket) => socket.server))];
    for (let i = 0; i < untouched.length; i++) {
      const { id } = untouched[i]!;
      out.firstTouch.push(await timed((cb) => sails.sockets.leave(id, SOURCE, cb), one, `first touch of ${id}`));
      out.floorRotating.push(await fanout!.ping(turn[(i + Math.ceil(turn.length / 2)) % turn.length]!));
    }
    return out;
  },

  /**
   * On server 0, room to room, one at a time, each add and remove followed by a raw fan-out, plain
   * or applying: each fan-out follows an operation as each operation follows a fan-out (two
   * fan-outs in a row would find the servers' caches warm, which no operation does).
   */
  scaleRoomToRoom: async ({ sails, nsp }, { samples }: { samples: number }) => {
    const out: RoomToRoomSamples = { roomToRoom: [], fanout: [], applyingFanout: [] };
    const moveMembers = movingMembers(nsp);
    const plain = { samples: out.fanout, run: () => fanout!.ping() };
    const applying = { samples: out.applyingFanout, run: () => fanout!.pingApplying(moveMembers) };
    for (let i = 0; i < samples; i++) {
      // Each kind of fan-out after an add in one round, after a remove in the next.
      const [afterAdd, afterRemove] = i % 2 === 0 ? [plain, applying] : [applying, plain];
      out.roomToRoom.push(await timed((cb) => sails.sockets.addRoomMembersToRooms(SOURCE, [DEST], cb), all, 'add'));
      afterAdd.samples.push(await afterAdd.run());
      out.roomToRoom.push(await timed((cb) => sails.sockets.removeRoomMembersFromRooms(SOURCE, [DEST], cb), all, 'remove'));
      afterRemove.samples.push(await afterRemove.run());
    }
    return out;
  },

  /** On server 0: fan-out round trips alone (after the echoes changed). */
  scaleFanout: async (_server, { samples }: { samples: number }) => {
    const rtts: number[] = [];
    for (let i = 0; i < samples; i++) rtts.push(await fanout!.ping());
    return rtts;
  },
};

export const p50 = (values: number[]) => percentile(values, 50);
export const p99 = (values: number[]) => percentile(values, 99);
