/**
 * Redis: socket.io's Redis adapter carries broadcasts; the hook's own request/reply channels
 * carry membership changes, so a change is confirmed by every server that had to apply it.
 *
 * This file builds the parts and wires them: the connections (link.ts), the other servers
 * (peers.ts), the requests waiting on them (requests.ts), what this server answers (answer.ts),
 * the messages (wire.ts) and how they are published (outbox.ts).
 */
import { randomUUID } from 'node:crypto';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { Server } from 'socket.io';
import { callingBackAfter } from '../../call-soon';
import type { ResolvedRoomsConfig } from '../../config';
import type { Logger } from '../../deliver';
import type { ClusterTransport, PeerAnswer } from '../transport';
import { answer } from './answer';
import { withHandledPromises } from './clients';
import { systemClock } from './clock';
import { openLink } from './link';
import { createOutbox } from './outbox';
import { HEARTBEAT_MS, Peers } from './peers';
import { PendingRequests, unavailable, type Done } from './requests';
import { SocketRoutes } from './routes';
import {
  encodePresence, encodeReply, encodeRequest, forEachMessage, presencePattern, sentBy,
  type ClusterRequest, type Message, type Presence, type Reply,
} from './wire';

export { HEARTBEAT_MS, PEER_EXPIRY_MS } from './peers';

/** How long a starting server waits for the others to introduce themselves. */
const DISCOVERY_MS = 500;

interface RedisTransportOptions {
  config: ResolvedRoomsConfig;
  io: Server;
  log: Logger;
}

type MessageOf<T extends Message['t']> = Extract<Message, { t: T }>;

export async function createRedisTransport({ config, io, log }: RedisTransportOptions): Promise<ClusterTransport> {
  const link = await openLink(config, log);
  const clock = systemClock;
  const nsp = io.of('/');
  const uid = randomUUID();
  // One hash tag in every channel of the hook: on a Redis Cluster they share a slot, so a server's
  // messages reach another in the order they were sent, whichever channel each took.
  const requestChannel = `{${config.key}-rooms}#/#`;
  const inboxOf = (server: string) => `${requestChannel}${server}#`;
  const ownHello = presencePattern(uid, 'hello');
  let nextId = 1;
  let closed = false;

  const outbox = createOutbox(link.publish);
  /** Publishes an encoded message, at once or with the others sent on `channel` in this tick. */
  const { send } = outbox;
  const announce = (presence: Presence) => send(requestChannel, encodePresence(uid, presence));
  /** {@link send}, resolving with the number of subscribers that received it. */
  const sent = (channel: string, message: string) => new Promise<number>((resolve, reject) => {
    send(channel, message, (err, receivers) => (err ? reject(err) : resolve(receivers!)));
  });

  const peers = new Peers(clock);
  const routes = new SocketRoutes();
  const requests = new PendingRequests({
    timeoutMs: config.timeout,
    clock,
    send,
    broadcastChannel: requestChannel,
    livePeers: () => peers.live(),
    routes,
  });

  const onPresence = (from: string, type: Presence) => {
    if (type === 'bye') {
      peers.forget(from);
      requests.peerLeft(from);
      return;
    }
    peers.heardFrom(from);
    if (type === 'hello') announce('beat');
    if (type === 'up') requests.peerResubscribed(from);
  };

  const onRequest = (message: MessageOf<'request'>) => {
    const reply = answer(nsp, message.request);
    if (message.reply) send(inboxOf(message.from), encodeReply(uid, message.id, reply));
  };

  /** A message from another server, on the request channel or in this server's inbox. */
  const onMessage = (message: Message) => {
    if (message.t === 'reply') return requests.onReply(message.from, message.id, message.reply);
    // Messages held up (a stalled Redis, commands replayed after a reconnect) show their age.
    const delay = peers.clocks.delayOf(message.from, message.sentAt, clock.wallNow());
    if (message.t !== 'request') return onPresence(message.from, message.t);
    // Its sender gave up on it (E_TIMEOUT): applied now, it could undo changes confirmed since.
    if (delay > message.ttl) return;
    peers.heardFrom(message.from);
    onRequest(message);
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
    if (sentBy(raw, uid)) {
      // Our own hello came back: our subscription works, so tell the others to resend.
      if (ownHello.test(raw)) announce('up');
      return;
    }
    handlePublish(raw);
  };

  await link.subscribe(requestChannel, onRequestChannel);
  await link.subscribe(inboxOf(uid), handlePublish);

  // Once both connections are back, announce this server.
  link.onReady(() => {
    if (!link.isReady()) return;
    peers.heardFromEveryoneNow();
    announce('hello');
  });
  link.onSubscriberLost((err) => {
    if (requests.size === 0) return;
    requests.failAll(unavailable('sails-hook-rooms lost its Redis connection while waiting for other servers: '
      + 'the change was applied on this server and may or may not have been applied on the others.', err));
  });

  /** Says hello and waits (briefly) for the servers already up to answer, so the first operations await them. */
  async function discoverPeers() {
    const receivers = await sent(requestChannel, encodePresence(uid, 'hello'));
    const others = receivers - 1;
    const deadline = Date.now() + Math.min(config.timeout, DISCOVERY_MS);
    // Other subscribers of the channel (e.g. a monitoring tool) never answer: the deadline bounds the wait.
    while (peers.size < others && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await discoverPeers();
  const heartbeat = clock.setInterval(() => {
    if (link.isReady()) announce('beat');
  }, HEARTBEAT_MS);

  const adapterPub = withHandledPromises(link.pub, log);
  const adapterSub = withHandledPromises(link.sub, log);
  // Static subscriptions: a room's broadcasts never wait for a per-room SSUBSCRIBE after a join.
  io.adapter(link.sharded
    ? createShardedAdapter(adapterPub, adapterSub, { channelPrefix: config.key, subscriptionMode: 'static' })
    : createAdapter(adapterPub, adapterSub, { key: config.key, publishOnSpecificResponseChannel: true }));

  /**
   * Sends a request to the other servers; `done` gets the replies of those concerned (callbacks,
   * not promises: thousands of requests may be in flight, each should hold little).
   */
  function ask(request: ClusterRequest, wantedIds: string[] | undefined, done: Done): void {
    // `done` is told after ask() returned, whatever happens.
    if (closed) return process.nextTick(done, unavailable('sails-hook-rooms is lowered: no cluster operation is possible.'));
    if (!link.isReady()) {
      return process.nextTick(done, unavailable('sails-hook-rooms cannot reach Redis right now: the change was applied on this server only. '
        + 'Check Redis; the hook reconnects by itself.'));
    }
    const reply = config.confirm === 'cluster' || request.kind !== 'change';
    const id = nextId++;
    const message = encodeRequest(uid, id, reply, config.timeout, request);
    const holder = wantedIds && routes.holderOf(wantedIds);
    const directed = holder !== undefined && peers.isLive(holder);
    const channel = directed ? inboxOf(holder) : requestChannel;
    if (!reply) return send(channel, message, (err) => done(err ? unavailable(`sails-hook-rooms could not publish to Redis: ${String(err)}`, err) : null, []));
    requests.start(id, message, channel, directed ? new Set([holder]) : peers.live(), wantedIds, done);
  }

  const asked = (request: ClusterRequest, wantedIds?: string[]) => new Promise<Reply[]>((resolve, reject) => {
    ask(request, wantedIds, (err, replies) => (err ? reject(err) : resolve(replies!)));
  });

  const sum = (replies: Reply[]): PeerAnswer => {
    let matched = 0;
    const foundIds: string[] = [];
    for (const reply of replies) {
      matched += reply.matched;
      for (const id of reply.foundIds) foundIds.push(id);
    }
    return { servers: replies.length, matched, foundIds, confirmed: config.confirm === 'cluster' };
  };

  return {
    clustered: true,
    sendChange(change, answered) {
      const wanted = change.type === 'join' || change.type === 'leave' ? change.socketIds : undefined;
      ask({ kind: 'change', change }, wanted, (err, replies) => answered(err, err ? undefined : sum(replies!)));
    },
    async roomsOfRemoteSocket(socketId) {
      const replies = await asked({ kind: 'roomsOf', socketId }, [socketId]);
      return replies.find((r) => r.names)?.names ?? null;
    },
    async remoteMembersOf(room) {
      const replies = await asked({ kind: 'membersOf', room });
      return replies.flatMap((r) => r.names ?? []);
    },
    async close() {
      if (closed) return;
      closed = true;
      heartbeat.cancel();
      requests.close(unavailable('sails-hook-rooms was lowered while waiting for other servers.'));
      if (link.pubReady()) await sent(requestChannel, encodePresence(uid, 'bye')).catch(() => {});
      await link.close();
    },
  };
}
