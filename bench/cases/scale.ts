/**
 * Case 6, scale (`npm run scale`, apart from `npm run bench`: it lifts 62 servers). One Redis and
 * N servers with sails-hook-rooms, each holding SOCKETS simulated sockets in room SOURCE. From
 * server 0, one operation at a time:
 * - routed: a by-ID leave, then join, of a socket on the last server, whose route server 0 knows;
 * - first touch: a by-ID leave of a socket server 0 never named before (its ID names its server);
 * - room to room: addRoomMembersToRooms / removeRoomMembersFromRooms of SOURCE's members (every
 *   server answers);
 * - floors: a raw fan-out round trip (one PUBLISH, the N−1 other servers echo it, until every
 *   echo came back), and the same with echoes that parse and encode the message again, as a
 *   server handling a request does. Both run between our operations, in the same processes.
 * Also per N: Redis messages per operation, presence messages per second, each server's
 * lift-to-ready time, and Redis' CPU while the operations ran.
 */
import { now } from '../support/clock';
import { startEcho, startPinger } from '../support/floor';
import type { Commands } from '../support/server-context';
import { percentile } from '../support/stats';

export const SOURCE = 's6-source';
export const DEST = 's6-dest';
export const SOCKETS = 40;

let closeEcho: (() => Promise<void>) | undefined;
let fanout: Awaited<ReturnType<typeof startPinger>> | undefined;

type Result = { matched: number; servers: number };

export interface ByIdSamples {
  routed: number[];
  firstTouch: number[];
  /** Raw round trips to the last server, between routed operations; to each server in turn, between first touches. */
  floorSame: number[];
  floorRotating: number[];
}

export interface RoomToRoomSamples {
  roomToRoom: number[];
  fanout: number[];
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
  scaleEcho: async ({ spec }, { parse }: { parse: boolean }) => {
    await closeEcho?.();
    closeEcho = await startEcho(spec.redisUrl!, { parse, name: spec.name });
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
   * On server 0, by ID, one at a time: routed leaves and joins, then first touches. On their own:
   * only two servers take part, and they should not pay for the tail of a fan-out that woke every
   * server just before.
   */
  scaleById: async ({ sails }, { routedId, routedServer, untouched, samples }: {
    routedId: string; routedServer: string; untouched: Array<{ id: string; server: string }>; samples: number;
  }) => {
    const out: ByIdSamples = { routed: [], firstTouch: [], floorSame: [], floorRotating: [] };
    // The first operation on routedId is left out of the samples, as in the other cases.
    await timed((cb) => sails.sockets.leave(routedId, SOURCE, cb), one, 'first leave');
    await timed((cb) => sails.sockets.join(routedId, SOURCE, cb), one, 'first join');
    for (let i = 0; i < samples; i++) {
      out.routed.push(await timed((cb) => sails.sockets.leave(routedId, SOURCE, cb), one, 'routed leave'));
      out.routed.push(await timed((cb) => sails.sockets.join(routedId, SOURCE, cb), one, 'routed join'));
      out.floorSame.push(await fanout!.ping(routedServer));
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

  /** On server 0, room to room, one at a time, each add and remove between two raw fan-outs. */
  scaleRoomToRoom: async ({ sails }, { samples }: { samples: number }) => {
    const out: RoomToRoomSamples = { roomToRoom: [], fanout: [] };
    for (let i = 0; i < samples; i++) {
      out.fanout.push(await fanout!.ping());
      out.roomToRoom.push(await timed((cb) => sails.sockets.addRoomMembersToRooms(SOURCE, [DEST], cb), all, 'add'));
      out.roomToRoom.push(await timed((cb) => sails.sockets.removeRoomMembersFromRooms(SOURCE, [DEST], cb), all, 'remove'));
      out.fanout.push(await fanout!.ping());
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
