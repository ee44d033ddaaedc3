/**
 * After the run: let everything sent reach its sockets (settle), then judge the cluster against the
 * model (final checks): the membership of every (socket, room) pair, the public queries, the answers
 * kept for the end, the ordering samples, and every socket a server disconnected, against what the
 * servers said they disconnected and why.
 */
import { waitFor } from '../test/support/events';
import { disconnectedBy, standingsOf, type SoakServer } from './cluster';
import type { Fleet } from './fleet';
import type { Findings, Verdicts } from './findings';
import { roomKey, type Load, type OrderingSample } from './load';
import type { CheckResult, MembershipModel } from './model';
import type { randomGenerator } from './stats';
import type { FaultName, Timeline } from './timeline';

export const isGroupRoom = (room: string): boolean => /^g\d+-r\d+$/.test(room);

export interface Settled {
  live: SoakServer[];
  /** Every live server's sentinel reached every socket still connected. */
  flushed: boolean;
}

/** Everything any live server broadcast before now has reached its sockets once its sentinel has. */
export async function settle(servers: readonly SoakServer[], fleet: Fleet): Promise<Settled> {
  const nonce = Date.now();
  const live = servers.filter((server) => server.alive);
  await Promise.all(live.map((server) => server.call('POST', '/__soak/blast', { nonce })));
  const receivers = fleet.sockets.filter((socket) => socket.connected && servers[socket.server]!.alive);
  const flushed = await waitFor(() => receivers.every((socket) => (socket.sentinels.get(nonce)?.size ?? 0) === live.length), 'every sentinel', 20_000)
    .then(() => true, () => false);
  return { live, flushed };
}

export interface OrderingFigures {
  verified: number;
  /** The guarantee broken outside any fault window (counted as inconsistent). */
  broken: number;
  brokenDuringFaults: number;
  unverifiable: number;
  /** Unverifiable because their sender was SIGKILLed before the check ended; of those, how many announcements arrived. */
  senderKilled: { samples: number; announced: number };
}

export interface DisconnectFigures {
  /** Per server: the sockets its log says it disconnected (for a conflict, or by the last resort), and those its clients saw go. */
  byServer: Record<string, { conflict: number; lastResort: number; seen: number }>;
  /** The same per fault, by when the server said it ('none': outside every fault window). */
  byFault: Record<FaultName | 'none', { conflict: number; lastResort: number }>;
  /** Seen by their clients, not said by their server. */
  unexplained: number;
  /** Said by a server, not seen by its clients. */
  unseen: number;
  total: number;
  /** What each server said, when (into the run), in which fault's window, and why. */
  said: Array<{ server: string; at: string; fault: FaultName | 'none'; how: 'caught up' | 'last resort'; sockets: number; why: string }>;
}

export interface FinalChecks {
  final: CheckResult;
  missingSockets: number;
  finalQueryMismatches: number;
  verdicts: Verdicts;
  ordering: { leaves: OrderingFigures; joins: OrderingFigures; unreachableJoins: OrderingFigures };
  brokenOutsideFaults: number;
  disconnects: DisconnectFigures;
}

export interface CheckContext {
  rng: ReturnType<typeof randomGenerator>;
  servers: readonly SoakServer[];
  fleet: Fleet;
  model: MembershipModel;
  load: Load;
  timeline: Timeline;
  findings: Findings;
}

function orderingOf(samples: readonly OrderingSample[], type: OrderingSample['type'], timeline: Timeline): OrderingFigures {
  const ofType = samples.filter((sample) => sample.type === type);
  const killed = ofType.filter((sample) => sample.unverifiable === 'sender killed');
  return {
    verified: ofType.filter((sample) => sample.kept !== null).length,
    broken: ofType.filter((sample) => sample.kept === false && !timeline.sampleFault(sample)).length,
    brokenDuringFaults: ofType.filter((sample) => sample.kept === false && timeline.sampleFault(sample)).length,
    unverifiable: ofType.filter((sample) => sample.kept === null).length,
    senderKilled: { samples: killed.length, announced: killed.filter((sample) => sample.announced).length },
  };
}

/** Every socket a running server disconnected, against what the servers said. */
function reconcileDisconnects(servers: readonly SoakServer[], fleet: Fleet, timeline: Timeline, findings: Findings): DisconnectFigures {
  const figures: DisconnectFigures = {
    byServer: {},
    byFault: { redisRestart: { conflict: 0, lastResort: 0 }, partition: { conflict: 0, lastResort: 0 }, serverKill: { conflict: 0, lastResort: 0 }, none: { conflict: 0, lastResort: 0 } },
    unexplained: 0,
    unseen: 0,
    total: fleet.disconnects.length,
    said: [],
  };
  for (const server of servers) {
    const said = { conflict: 0, lastResort: 0, seen: fleet.disconnects.filter((d) => d.socket.server === server.index).length };
    for (const standing of standingsOf(server)) {
      const kind = standing.kind === 'caught up' ? 'conflict' : 'lastResort';
      said[kind] += disconnectedBy(standing);
      // The line is read a moment after the server wrote it.
      const fault = timeline.faultAt(standing.at, 2000) ?? 'none';
      figures.byFault[fault][kind] += disconnectedBy(standing);
      figures.said.push({ server: server.name, at: timeline.since(standing.at), fault, how: standing.kind, sockets: disconnectedBy(standing), why: standing.why });
    }
    figures.byServer[server.name] = said;
    const told = said.conflict + said.lastResort;
    if (said.seen > told) {
      figures.unexplained += said.seen - told;
      findings.anomaly({ kind: 'disconnects nobody explained', server: server.name, seen: said.seen, said: told, reasons: fleet.disconnects.filter((d) => d.socket.server === server.index).map((d) => d.reason).slice(0, 5) });
    }
    if (told > said.seen) {
      figures.unseen += told - said.seen;
      findings.anomaly({ kind: 'disconnects said, not seen', server: server.name, seen: said.seen, said: told });
    }
  }
  return figures;
}

export async function finalChecks(ctx: CheckContext, { live }: Settled): Promise<FinalChecks> {
  const { rng, servers, fleet, model, load, timeline, findings } = ctx;

  // The cluster's actual membership, against the model.
  const actual = new Map<string, string[]>();
  let missingSockets = 0;
  for (const server of live) {
    const state = await server.state('?membership=1');
    for (const [id, rooms] of Object.entries(state.membership ?? {})) actual.set(id, rooms);
  }
  for (const socket of model.sockets.values()) {
    if (socket.alive && !actual.has(socket.id)) {
      missingSockets += 1;
      findings.anomaly({ kind: 'socket missing', socket: socket.id });
    }
  }
  const final = model.check(actual, isGroupRoom);
  for (const mismatch of final.mismatches.slice(0, 10)) {
    findings.anomaly({ ...mismatch, kind: 'final state', how: mismatch.kind, model: JSON.stringify(model.state(mismatch.socketId, mismatch.room)), roomOperations: findings.history.get(roomKey(mismatch.room)) });
  }
  for (const id of new Set(final.mismatches.map((mismatch) => mismatch.socketId))) {
    const socket = fleet.sockets.find((candidate) => candidate.id === id);
    findings.anomaly({ kind: 'history', socket: id, server: socket && servers[socket.server]!.name, actual: actual.get(id), operations: findings.history.get(id) });
  }

  // The public queries, now that nothing moves, must tell exactly the actual state. The killed
  // server stays fenced (nobody can tell it from one cut off): the queries answer for the others.
  let finalQueryMismatches = 0;
  const aliveIds = [...actual.keys()];
  for (const id of rng.sample(aliveIds, 30)) {
    const answer = await rng.pick(live).call('GET', `/rooms/rooms-of?socketId=${encodeURIComponent(id)}&partial=true`);
    const expected = actual.get(id)!.filter(isGroupRoom).sort();
    const got = (answer.body?.rooms ?? null)?.filter(isGroupRoom).sort();
    if (answer.status !== 200 || JSON.stringify(got) !== JSON.stringify(expected)) {
      finalQueryMismatches += 1;
      findings.anomaly({ kind: 'final rooms-of', id, expected, got: answer.body });
    }
  }
  const allRooms = load.groups.flatMap((group) => group.rooms);
  for (const room of rng.sample(allRooms, 20)) {
    const answer = await rng.pick(live).call('GET', `/rooms/members?roomName=${encodeURIComponent(room)}&partial=true`);
    const expected = aliveIds.filter((id) => actual.get(id)!.includes(room)).sort();
    const got = [...(answer.body?.members ?? [])].sort();
    if (answer.status !== 200 || JSON.stringify(got) !== JSON.stringify(expected)) {
      finalQueryMismatches += 1;
      findings.anomaly({ kind: 'final members', room, expected: expected.length, got: answer.body });
    }
  }

  // Answers kept for the end, now that the timeline is complete and every disconnect known.
  const disconnectedAt = new Map(fleet.disconnects.map((d) => [d.socket.id, d.at]));
  const verdicts = findings.judge(timeline, (id) => disconnectedAt.get(id));

  // Ordering samples: one that failed while a fault could lose its announcement is reported, not counted.
  const { samples } = load;
  const broken = samples.filter((sample) => sample.kept === false);
  const brokenOutsideFaults = broken.filter((sample) => !timeline.sampleFault(sample));
  for (const sample of broken.slice(0, 5)) findings.anomaly({
    kind: `${sample.type} announcement ${sample.type === 'join' ? 'missed' : 'reached the socket'}`,
    op: sample.op,
    socket: sample.socket.id,
    server: servers[sample.server]!.name,
    sender: servers[sample.issuer]!.name,
    at: `${timeline.since(sample.start)}..${timeline.since(sample.end)}`,
    inFaultWindow: timeline.sampleFault(sample) ?? null,
    operations: findings.history.get(sample.socket.id),
  });

  // Reported, not counted: what a SIGKILL does to an announcement its sender had not sent yet.
  for (const sample of samples.filter((s) => s.unverifiable === 'sender killed' && s.type === 'join' && !s.announced).slice(0, 5)) {
    findings.anomaly({
      kind: 'join announcement missed, its sender SIGKILLed (not counted)',
      op: sample.op,
      sender: servers[sample.issuer]!.name,
      answeredMsBeforeKill: timeline.serverKilledAt === undefined ? null : Math.round(timeline.serverKilledAt - sample.answered),
      operations: findings.history.get(sample.socket.id),
    });
  }

  return {
    final,
    missingSockets,
    finalQueryMismatches,
    verdicts,
    ordering: {
      leaves: orderingOf(samples, 'leave', timeline),
      joins: orderingOf(samples, 'join', timeline),
      unreachableJoins: orderingOf(samples, 'join-unreachable', timeline),
    },
    brokenOutsideFaults: brokenOutsideFaults.length,
    disconnects: reconcileDisconnects(servers, fleet, timeline, findings),
  };
}
