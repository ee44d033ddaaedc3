/**
 * One server of the cluster: its parts wired together, over a link to Redis, the cluster's record
 * and a clock it is given (index.ts gives the real ones; the interleaving tests give fakes).
 *
 *   peers.ts      the other servers: members and fenced ones
 *   requests.ts   requests waiting on other servers;  answer.ts  what this server answers to theirs
 *   waiting.ts    with whenRedisDown: 'wait', operations waiting, unsent, until this server can send them
 *   registry.ts   the cluster's record in Redis: fencing, catch-up logs
 *   standing.ts   this server's own standing: holding, checking, catching up (gate.ts, catch-up.ts, local-changes.ts)
 *   wire.ts, outbox.ts, routes.ts   the messages, how they are published, where sockets are
 *   socket-ids.ts                   socket IDs that name their server
 */
import type { Namespace } from 'socket.io';
import { callingBackAfter } from '../../completion';
import type { ResolvedRoomsConfig } from '../../config';
import type { Logger } from '../../sails';
import { RoomsError } from '../../errors';
import { isRemoval, type MembershipChange } from '../../membership';
import { LEAVE_MS, type ClusterTransport, type PeerAnswer, type TransportEvents } from '../transport';
import { answer } from './answer';
import type { Clock } from './clock';
import { Gate } from './gate';
import { LocalChanges } from './local-changes';
import { createOutbox, sendToEach } from './outbox';
import { HEARTBEAT_MS, Peers } from './peers';
import type { Registry } from './registry';
import { PendingRequests, unavailable, type Done, type WhenFenced } from './requests';
import { liftRefused } from './rights';
import { SocketRoutes } from './routes';
import { stampSocketIds } from './socket-ids';
import type { PrimaryWatch } from './primary-watch';
import { Standing } from './standing';
import { WaitingOperations, type WaitingOperation } from './waiting';
import {
  encodeFence, encodeLost, encodePresence, encodeReply, encodeRequest, forEachMessage, presencePattern, PROTOCOL, sentBy,
  type ClusterRequest, type Message, type Presence, type Received, type SentReply,
} from './wire';

/** How long a starting server waits for the others to introduce themselves. */
const DISCOVERY_MS = 500;

/** The hook's request channel for a `key`; a server's inbox is this followed by its ID and '#'. */
export const requestChannelOf = (key: string) => `{${key}-rooms}#/#`;

/** What a server needs of its connections to Redis (link.ts). */
export interface NodeLink {
  readonly sharded: boolean;
  /** Both connections are up. */
  isReady(): boolean;
  /** And the hook's subscriptions on them (a cluster client's may be on a node that is down): stats().redis. */
  isUp(): boolean;
  /** The publishing connection is up. */
  pubReady(): boolean;
  publish(channel: string, payload: string): Promise<number>;
  subscribe(channel: string, listener: (message: string) => void): Promise<void>;
  /** Called on either connection's 'ready'. */
  onReady(listener: () => void): void;
  /** Called when the subscribing connection fails. */
  onSubscriberLost(listener: (err: unknown) => void): void;
  close(): Promise<void>;
}

export interface NodeOptions {
  uid: string;
  config: ResolvedRoomsConfig;
  nsp: Namespace;
  log: Logger;
  emit: TransportEvents;
  link: NodeLink;
  registry: Registry;
  clock: Clock;
  /** Attaches socket.io's adapter, everything it receives passing through `gate`; resolves once it is subscribed. */
  attachAdapter(gate: Gate): Promise<void>;
  /** Behind Sentinel: whether its Redis is the primary the sentinels name (primary-watch.ts). */
  primary?: PrimaryWatch;
  discoveryMs?: number;
}

/** Rejects if `promise` is not settled within `ms`. */
export function withinTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ms} ms`)), ms); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

type MessageOf<T extends Message['t']> = Extract<Message, { t: T }>;

/** A request asked while it could not be sent, as it waits for Redis (waiting.ts). */
interface AskedOperation extends WaitingOperation {
  request: ClusterRequest;
  wantedIds: string[] | undefined;
  done: Done;
  only: string | undefined;
}

/** What a request does when a server it waits for is fenced (requests.ts). */
function whenFencedOf(request: ClusterRequest): WhenFenced {
  if (request.kind !== 'change') return 'fail';
  return isRemoval(request.change) ? 'goOn' : 'wait';
}

export async function startNode({
  uid, config, nsp, log, emit, link, registry, clock, attachAdapter, primary, discoveryMs = DISCOVERY_MS,
}: NodeOptions): Promise<ClusterTransport> {
  // One hash tag in every channel of the hook: on a Redis Cluster they share a slot, so a server's
  // messages reach another in the order they were sent, whichever channel each took.
  const requestChannel = requestChannelOf(config.key);
  const inboxOf = (server: string) => `${requestChannel}${server}#`;
  const ownHello = presencePattern(uid, 'hello');
  let nextId = 1;
  let closed = false;

  const outbox = createOutbox(link.publish);
  /** Publishes an encoded message, at once or with the others sent on `channel` in this tick. */
  const { send } = outbox;
  const announce = (presence: Presence) => send(requestChannel, encodePresence(uid, presence, clock.wallNow()));
  /** {@link send}, resolving with the number of subscribers that received it. */
  const sent = (channel: string, message: string) => new Promise<number>((resolve, reject) => {
    send(channel, message, (err, receivers) => (err ? reject(err) : resolve(receivers!)));
  });

  const peers = new Peers(clock, undefined, (peer, change) => {
    if (change === 'up') emit('rooms:peer:up', { id: uid, peer });
    else emit('rooms:peer:down', { id: uid, peer, reason: change });
  });
  const routes = new SocketRoutes();
  const gate = new Gate();
  const local = new LocalChanges();
  const requests = new PendingRequests({
    timeoutMs: config.timeout,
    clock,
    send,
    broadcastChannel: requestChannel,
    inboxOf,
    livePeers: () => peers.live(),
    fencedPeers: () => peers.fenced(),
    encodeBroadcast: (id, request, excluded, ttlMs) => encodeRequest(uid, id, true, ttlMs, request, clock.wallNow(), excluded),
    routes,
  });
  /** whenRedisDown: 'wait': what cannot be sent now waits here, unsent (waiting.ts). */
  const waiting = config.whenRedisDown === 'wait' ? new WaitingOperations<AskedOperation>({
    clock,
    timeoutMs: config.timeout,
    linkReady: () => link.isReady(),
    isMember: () => standing.isMember,
    send: (asked) => ask(asked.request, asked.wantedIds, asked.done, asked.only, asked.deadline),
  }) : undefined;

  /** Applies a request of another server here (not a local change: not recorded), and answers it. */
  const handleRequest = (message: MessageOf<'request'>, reply: boolean) => {
    // Its sender gave up on it (E_TIMEOUT): applied now, it could undo changes confirmed since.
    if (peers.clocks.delayOf(message.from, message.sentAt, clock.wallNow()) > message.ttl) return;
    // Sent while its sender counted this server as fenced: a join did not reach it, a removal is recorded for it.
    if (message.excluded?.includes(uid)) return;
    let answered: SentReply;
    local.mute();
    try {
      answered = answer(nsp, message.request);
    } finally {
      local.unmute();
    }
    if (reply && message.reply) send(inboxOf(message.from), encodeReply(uid, message.id, answered, clock.wallNow()));
  };

  const standing = new Standing({
    uid,
    nsp,
    registry,
    gate,
    local,
    peers,
    clock,
    log,
    timeoutMs: config.timeout,
    linkReady: () => link.isReady(),
    probe: () => send(requestChannel, encodePresence(uid, 'beat', clock.wallNow())),
    handleRequest,
    becameMember: () => {
      announce('hello');
      waiting?.flush();
    },
    lostNotice: (servers) => encodeLost(uid, servers, clock.wallNow()),
    emit,
    primary,
  });
  primary?.onConfirmed(() => standing.primaryConfirmedNow());

  /** Servers heard speaking an older protocol, warned of once each. */
  const olderProtocols = new Set<string>();
  const checkProtocol = (from: string, protocol: number) => {
    if (protocol >= PROTOCOL || olderProtocols.has(from)) return;
    olderProtocols.add(from);
    log.warn(`sails-hook-rooms: server ${from} speaks protocol ${protocol} (sails-hook-rooms 0.1.x) and this server speaks ${PROTOCOL}. `
      + 'Operations between them work, but the guarantees under partitions do not hold while it is in the cluster: '
      + 'it neither fences servers cut off from Redis nor catches up when it is one. Upgrade every server of the cluster.');
  };

  const onPresence = (message: MessageOf<Presence>) => {
    const { from, t: type } = message;
    checkProtocol(from, message.protocol);
    if (type === 'bye') {
      peers.forget(from);
      requests.peerLeft(from);
      // In case its own leave did not get out before its process exited.
      registry.leave(from).catch(() => {});
      return;
    }
    // A fenced server says hello only once it registered again.
    if (!peers.heardFrom(from, type === 'hello')) return;
    if (type === 'hello') announce('beat');
    if (type === 'up') requests.peerResubscribed(from);
  };

  const onFenced = (server: string) => {
    if (server === uid) return standing.fenceNotice();
    peers.markFenced(server);
    requests.peerFenced(server);
  };

  /** A message from another server, on the request channel or in this server's inbox. */
  const onMessage = (message: Message) => {
    switch (message.t) {
      case 'reply':
        return requests.onReply(message.from, message.id, message.reply);
      case 'fence':
        return onFenced(message.server);
      case 'lost':
        if (message.servers.includes(uid)) return standing.lostNotice();
        for (const server of message.servers) onFenced(server);
        return;
      case 'request':
        if (gate.heldRequest(message)) return;
        peers.heardFrom(message.from);
        return handleRequest(message, true);
      default:
        // Heartbeats keep the estimate of each server's clock, against which requests show their age.
        if (message.t === 'beat') peers.clocks.heartbeat(message.from, message.sentAt, clock.wallNow());
        else peers.clocks.delayOf(message.from, message.sentAt, clock.wallNow());
        return onPresence(message);
    }
  };

  /** What this server itself published, come back: its subscription works, and the cluster hears it. */
  const onOwnMessage = (raw: string) => {
    standing.heardOwnEcho();
    // Our own hello came back: our subscription works, so tell the others to resend.
    if (ownHello.test(raw)) announce('up');
    if (!raw.includes('"beat"') && !raw.includes('"fence"')) return;
    forEachMessage(raw, (message) => {
      if (message.from !== uid) return;
      if (message.t === 'beat' && standing.isMember) local.beatEchoed(message.sentAt);
      // A fence this server made, read in order with what others sent around it.
      if (message.t === 'fence') onFenced(message.server);
    });
  };

  const readMessages = (raw: string) => forEachMessage(raw, onMessage);
  const readMessagesThenSend = (raw: string) => outbox.sendingFrom(readMessages, raw);
  /**
   * Handles one PUBLISH from another server: the messages it makes this server send leave at
   * its end, then the callbacks of the operations it completed are called.
   */
  const handlePublish = (raw: string) => callingBackAfter(readMessagesThenSend, raw);

  const onRequestChannel = (raw: string) => {
    // Redis delivers this server's own messages back to it.
    if (sentBy(raw, uid)) return onOwnMessage(raw);
    handlePublish(raw);
  };

  /** Fences the members silent for longer than the expiry (each notice is read back in order, see onOwnMessage). */
  const fencing = new Set<string>();
  const fenceSilentMembers = () => {
    for (const peer of peers.overdue()) {
      if (fencing.has(peer)) continue;
      fencing.add(peer);
      const since = peers.helloClock();
      registry.fence(peer, standing.gen, encodeFence(uid, peer, clock.wallNow())).then((outcome) => {
        if (outcome === 'absent') {
          peers.forget(peer);
          requests.peerLeft(peer);
        } else if (outcome === 'already') {
          // Fenced by another: unless it came back since the script ran (its hello read meanwhile).
          peers.markFenced(peer, since);
          if (peers.isFenced(peer)) requests.peerFenced(peer);
        } else if (outcome === 'generation') {
          standing.hold('Redis lost the cluster\'s record');
        }
      }, () => { /* Redis away: tried again on the next heartbeat. */ }).finally(() => fencing.delete(peer));
    }
  };

  /** Says hello and waits (briefly) for the servers already up to answer, so the first operations await them. */
  async function discoverPeers() {
    const receivers = await sent(requestChannel, encodePresence(uid, 'hello', clock.wallNow()));
    const others = receivers - 1;
    const deadline = Date.now() + Math.min(config.timeout, discoveryMs);
    // Other subscribers of the channel (e.g. a monitoring tool) never answer: the deadline bounds the wait.
    while (peers.size < others && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  // Each step of the lift is named: if Redis refuses one (an ACL user without a right), the lift
  // fails saying which, and closes what it opened.
  let step = 'subscribe to its channels';
  let unwatch = () => {};
  const unstamp = stampSocketIds(nsp, uid);
  try {
    await link.subscribe(requestChannel, onRequestChannel);
    await link.subscribe(inboxOf(uid), handlePublish);
    step = "register in the cluster's record (a Lua script)";
    await standing.join();
    step = 'announce itself to the other servers';
    await discoverPeers();
    step = "subscribe socket.io's Redis adapter to its channels";
    await attachAdapter(gate);
    unwatch = local.watch(nsp);
  } catch (err) {
    unstamp();
    standing.close();
    requests.close(unavailable('sails-hook-rooms did not lift.'));
    // Registered already: the others must not wait for a server that never lifted.
    if (standing.gen !== '') await registry.leave(uid).catch(() => {});
    await primary?.close();
    await link.close();
    throw liftRefused(step, err, config.key, link.sharded);
  }

  link.onReady(() => {
    if (!link.isReady()) return;
    // Either connection came back: the others may have fenced this server meanwhile. It was deaf,
    // not they silent; and it says hello only once it has checked (standing.ts).
    peers.heardFromEveryoneNow();
    standing.hold('its connection to Redis came back');
    primary?.reconnected();
    standing.linkReady();
  });
  link.onSubscriberLost((err) => {
    standing.subscriberLost();
    if (requests.size === 0) return;
    requests.failAll(unavailable('sails-hook-rooms lost its Redis connection while waiting for other servers: '
      + 'the change was applied on this server and may or may not have been applied on the others.', err));
  });
  const heartbeat = clock.setInterval(() => {
    primary?.ask();
    standing.tick();
    if (!link.isReady()) return;
    const sentAt = clock.wallNow();
    if (standing.isMember) local.beatSent(sentAt);
    send(requestChannel, encodePresence(uid, 'beat', sentAt));
    if (standing.isMember) fenceSilentMembers();
  }, HEARTBEAT_MS);

  /**
   * Sends a request to the other servers; `done` gets the replies of those concerned (callbacks,
   * not promises: thousands of requests may be in flight, each should hold little).
   */
  function ask(request: ClusterRequest, wantedIds: string[] | undefined, done: Done, only?: string, waitedUntil?: number): void {
    // `done` is told after ask() returned, whatever happens.
    if (closed) return process.nextTick(done, unavailable('sails-hook-rooms is lowered: no cluster operation is possible.'));
    // `waitedUntil`: it waited, and leaves now with its call's deadline, which its receivers are told too.
    if (waitedUntil === undefined && waiting?.mustWait()) return waiting.add({ request, wantedIds, done, only, deadline: clock.now() + config.timeout });
    if (!link.isReady()) {
      return process.nextTick(done, unavailable('sails-hook-rooms cannot reach Redis right now: the change was applied on this server only. '
        + 'Check Redis; the hook reconnects by itself.'));
    }
    if (!standing.isMember) {
      return process.nextTick(done, unavailable('sails-hook-rooms: this server may have been cut off from the cluster and is checking '
        + 'with Redis whether it was fenced; the change was applied on this server only. Try again in a moment.'));
    }
    const reply = config.confirm === 'cluster' || request.kind !== 'change';
    const id = nextId++;
    // To the servers holding its sockets, if each is known and a member; else to every server.
    const holders = only !== undefined ? [only] : wantedIds && routes.holdersOf(wantedIds);
    const directed = holders !== undefined && holders.every((holder) => peers.isMember(holder));
    const channels = directed ? holders.map(inboxOf) : [requestChannel];
    // Every server reads a broadcast request, fenced ones too: those this one does not count on must not apply it.
    const excluded = directed || peers.fencedCount === 0 ? undefined : peers.fenced();
    const ttl = waitedUntil === undefined ? config.timeout : Math.max(1, Math.floor(waitedUntil - clock.now()));
    const message = encodeRequest(uid, id, reply, ttl, request, clock.wallNow(), excluded);
    if (!reply) {
      return sendToEach(send, channels, message, (err) => done(err ? unavailable(`sails-hook-rooms could not publish to Redis: ${String(err)}`, err) : null, [], excluded));
    }
    requests.start(id, request, message, channels, directed ? new Set(holders) : peers.live(), {
      wantedIds, whenFenced: whenFencedOf(request), followsRoute: directed && only === undefined, excluded, deadline: waitedUntil,
    }, done);
  }

  /** {@link ask} as a promise: the replies, and the servers the request did not count on. */
  const asked = (request: ClusterRequest, wantedIds?: string[]) => new Promise<{ replies: Received[]; notCountedOn: string[] }>((resolve, reject) => {
    ask(request, wantedIds, (err, replies, notCountedOn) => (err ? reject(err) : resolve({ replies: replies!, notCountedOn: notCountedOn ?? [] })));
  });

  const sum = (replies: Received[], unreachableServers: number): PeerAnswer => {
    let matched = 0;
    const foundIds: string[] = [];
    for (const reply of replies) {
      matched += reply.matched;
      for (const id of reply.foundIds) foundIds.push(id);
    }
    return { servers: replies.length, matched, foundIds, confirmed: config.confirm === 'cluster', unreachableServers };
  };

  /**
   * A change the members confirmed. With servers it did not count on (`fenced`: fenced when it was
   * sent, or while it waited, and silent) that may hold its sockets, a removal is recorded for them
   * before it counts as done (they apply it when they come back); one that came back meanwhile is
   * sent the change itself, and if it is fenced again before it answers, recorded for again.
   * A join does not reach them, now or later.
   */
  function confirmedWithout(
    change: MembershipChange, wanted: string[] | undefined, replies: Received[], fenced: readonly string[],
    answered: (err: RoomsError | null, peers?: PeerAnswer) => void,
  ): void {
    if (fenced.length === 0) return answered(null, sum(replies, 0));
    const found = new Set(replies.flatMap((reply) => reply.foundIds));
    const missing = wanted?.filter((id) => !found.has(id));
    if (missing?.length === 0) return answered(null, sum(replies, 0));
    if (!isRemoval(change) || config.confirm === 'local') return answered(null, sum(replies, fenced.length));
    const entry = JSON.stringify(change.type === 'leave' ? { ...change, socketIds: missing } : change);
    registry.record(entry, fenced, standing.gen).then((outcome) => {
      if (outcome === 'generation') {
        standing.hold('Redis lost the cluster\'s record');
        return answered(unavailable('sails-hook-rooms: Redis lost the cluster\'s record while this change was confirmed; the change was applied on the servers that answered.'));
      }
      for (const server of outcome.absent) peers.forget(server);
      const stillFenced = fenced.length - outcome.absent.length - outcome.members.length;
      if (outcome.members.length === 0) return answered(null, sum(replies, stillFenced));
      // Back meanwhile: it did not get this change in its catch-up, so it is asked directly.
      let waiting = outcome.members.length;
      let failed: RoomsError | null = null;
      const notCounted: string[] = [];
      for (const server of outcome.members) {
        peers.heardFrom(server, true);
        ask({ kind: 'change', change }, wanted && missing, (err, more, notCountedOn) => {
          if (err) failed ??= err;
          else replies.push(...more!);
          for (const again of notCountedOn ?? []) notCounted.push(again);
          if (--waiting > 0) return;
          if (failed) return answered(failed);
          confirmedWithout(change, wanted, replies, notCounted, (err2, answer) => answered(err2, answer && { ...answer, unreachableServers: answer.unreachableServers + stillFenced }));
        }, server);
      }
    }, (err: unknown) => answered(unavailable(`sails-hook-rooms could not record the change for the servers cut off from the cluster: ${String(err)}`, err)));
  }

  function leaveCluster(ms: number): Promise<void> {
    if (closed || !link.pubReady()) return Promise.resolve();
    // Out of the record first: a server hearing the bye reads a record without it.
    const left = Promise.all([registry.leave(uid), sent(requestChannel, encodePresence(uid, 'bye', clock.wallNow()))]).then(() => {});
    return withinTimeout(left, ms).catch(() => {});
  }

  /** A query's answer is complete only if every server that may hold part of it answered. */
  function incomplete(unanswered: readonly string[], what: string, partial: unknown): RoomsError {
    return Object.assign(unavailable(`sails-hook-rooms: ${unanswered.length} server(s) of the cluster are cut off from Redis, so ${what} cannot be known completely; `
      + 'the answer of the servers that could answer is in err.partial (or pass { partial: true }).'), { partial, unreachableServers: unanswered.length });
  }

  return {
    clustered: true,
    sendChange(change, answered) {
      const wanted = change.type === 'join' || change.type === 'leave' ? change.socketIds : undefined;
      ask({ kind: 'change', change }, wanted, (err, replies, notCountedOn) => {
        if (err) return answered(err);
        confirmedWithout(change, wanted, replies!, notCountedOn ?? [], answered);
      });
    },
    async roomsOfRemoteSocket(socketId, partial) {
      const { replies, notCountedOn } = await asked({ kind: 'roomsOf', socketId }, [socketId]);
      const rooms = replies.find((r) => r.names)?.names ?? null;
      if (rooms === null && !partial && notCountedOn.length > 0) throw incomplete(notCountedOn, `whether socket ${socketId} is connected`, null);
      return rooms;
    },
    async remoteMembersOf(room, partial) {
      const { replies, notCountedOn } = await asked({ kind: 'membersOf', room });
      const members = replies.flatMap((r) => r.names ?? []);
      if (!partial && notCountedOn.length > 0) throw incomplete(notCountedOn, `the members of room ${JSON.stringify(room)}`, members);
      return members;
    },
    stats: () => ({
      redis: link.isUp() ? 'up' : 'down',
      standing: standing.state,
      peers: peers.describe(),
      pending: requests.size,
      waiting: waiting?.size ?? 0,
    }),
    leave: leaveCluster,
    async close() {
      if (closed) return;
      waiting?.close(unavailable('sails-hook-rooms was lowered while this operation waited for Redis: it was never sent to the other servers.'));
      await leaveCluster(Math.min(config.timeout, LEAVE_MS));
      closed = true;
      standing.close();
      heartbeat.cancel();
      unwatch();
      unstamp();
      requests.close(unavailable('sails-hook-rooms was lowered while waiting for other servers.'));
      await primary?.close();
      await link.close();
    },
  };
}
