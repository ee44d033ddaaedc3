import { randomUUID } from 'node:crypto';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { Namespace, Server } from 'socket.io';
import { callingBackAfter } from '../call-soon';
import { maskUrl, type ResolvedRoomsConfig } from '../config';
import type { Logger } from '../deliver';
import { RoomsError } from '../errors';
import { applyLocally } from '../membership';
import { createOutbox } from './outbox';
import { PeerClocks } from './peer-clocks';
import {
  closeClient, createClientsFromUrl, isReady, publish, removeListenerSafely, subscribe, withHandledPromises,
  type AnyRedisClient,
} from './redis-clients';
import { SocketRoutes } from './routes';
import type { ClusterTransport, PeerAnswer } from './transport';
import {
  encodePresence, encodeReply, encodeRequest, forEachMessage, presencePattern, sentBy,
  type ClusterRequest, type Message, type Presence, type Reply, type SentReply,
} from './wire';

/** How a request ends: the replies of the servers concerned, or why there are none. */
type Done = (err: RoomsError | null, replies?: Reply[]) => void;

interface PendingRequest {
  id: number;
  message: string;
  /** Where it went: every server's request channel, or the inbox of the one server holding its sockets. */
  channel: string;
  /** When it fails with E_TIMEOUT (performance.now()). */
  deadline: number;
  /**
   * Servers that must answer: those known to be up when it was sent (one Set for the requests
   * sent while they did not change), or the one it was sent to.
   */
  awaited: Set<string>;
  /** Redis accepted it (PUBLISH answered). */
  published: boolean;
  /** Who answered, and what (a few servers: arrays cost less than a Map). */
  repliedBy: string[];
  replies: Reply[];
  /** For join/leave by ID and socket look-ups: the IDs it names, and those no server said it holds yet (done when none is). */
  wantedIds: string[] | undefined;
  missingIds: Set<string> | undefined;
  done: Done;
}

export const HEARTBEAT_MS = 1000;
/** A server silent for this long is taken for gone (e.g. killed). */
export const PEER_EXPIRY_MS = 3500;
/** How long a starting server waits for the others to introduce themselves. */
const DISCOVERY_MS = 500;

interface RedisTransportOptions {
  config: ResolvedRoomsConfig;
  io: Server;
  log: Logger;
}

function unavailable(message: string, cause?: unknown): RoomsError {
  return new RoomsError('E_UNAVAILABLE', message, cause === undefined ? undefined : { cause });
}

const notPublished = (err: unknown) => unavailable(`sails-hook-rooms could not publish to Redis: ${String(err)}`, err);

/** Connects clients the hook creates, failing within `timeoutMs`. */
async function connectOwnClients(pub: AnyRedisClient, sub: AnyRedisClient, url: string, timeoutMs: number) {
  let lastError: unknown;
  const remember = (err: unknown) => { lastError = err; };
  pub.on('error', remember);
  sub.on('error', remember);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(unavailable(
      `sails-hook-rooms could not reach Redis at ${maskUrl(url)} within ${timeoutMs} ms`
        + `${lastError instanceof Error ? ` (${lastError.message || lastError.name})` : ''}: `
        + 'check sails.config.rooms.url and that Redis is running.',
      lastError,
    )), timeoutMs);
  });
  try {
    await Promise.race([Promise.all([pub.connect(), sub.connect()]), deadline]);
  } catch (err) {
    await Promise.all([closeClient(pub), closeClient(sub)]);
    throw err;
  } finally {
    clearTimeout(timer);
    pub.off('error', remember);
    sub.off('error', remember);
  }
}

/** Waits for clients the user passed to be ready, within `timeoutMs`. */
async function awaitUserClients(clients: AnyRedisClient[], timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (const client of clients) {
    while (!isReady(client)) {
      if (Date.now() > deadline) {
        throw unavailable(`sails.config.rooms.pubClient/subClient did not become ready within ${timeoutMs} ms: connect them before lifting Sails.`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** Answers a request from another server, from this server's sockets. */
function answer(nsp: Namespace, request: ClusterRequest): SentReply {
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

/**
 * Redis: socket.io's Redis adapter carries broadcasts; the hook's own request/reply channels
 * carry membership changes, so a change is confirmed by every server that had to apply it.
 */
export async function createRedisTransport({ config, io, log }: RedisTransportOptions): Promise<ClusterTransport> {
  const sharded = config.adapter === 'redis-sharded';
  const ownsClients = config.url !== undefined;
  const { pub, sub } = ownsClients
    ? createClientsFromUrl(config.url!)
    : { pub: config.pubClient as AnyRedisClient, sub: config.subClient as AnyRedisClient };
  // Without an 'error' listener a client error would crash the process. Reconnection attempts
  // fail many times per outage: the first failure is reported, then the recovery.
  let outageReported = false;
  const onLog = (err: unknown) => {
    if (outageReported) return;
    outageReported = true;
    log.warn('sails-hook-rooms: lost the connection to Redis; cluster operations fail with E_UNAVAILABLE until it is back:', err);
  };
  const onReady = () => {
    if (!outageReported || !isReady(pub) || !isReady(sub)) return;
    outageReported = false;
    log.warn('sails-hook-rooms: connected to Redis again.');
  };
  for (const client of [pub, sub]) {
    client.on('error', onLog);
    client.on('ready', onReady);
  }

  if (ownsClients) await connectOwnClients(pub, sub, config.url!, config.timeout);
  else await awaitUserClients([pub, sub], config.timeout);

  const nsp = io.of('/');
  const uid = randomUUID();
  // One hash tag in every channel of the hook: on a Redis Cluster they share a slot, so a server's
  // messages reach another in the order they were sent, whichever channel each took.
  const requestChannel = `{${config.key}-rooms}#/#`;
  const inboxOf = (server: string) => `${requestChannel}${server}#`;
  const peers = new Map<string, number>();
  const pending = new Map<number, PendingRequest>();
  const routes = new SocketRoutes();
  let nextId = 1;
  let closed = false;

  const outbox = createOutbox((channel, payload) => publish(pub, channel, payload, sharded));
  /** Publishes an encoded message, at once or with the others sent on `channel` in this tick. */
  const { send } = outbox;
  const announce = (presence: Presence) => send(requestChannel, encodePresence(uid, presence));
  /** {@link send}, resolving with the number of subscribers that received it. */
  const sent = (channel: string, message: string) => new Promise<number>((resolve, reject) => {
    send(channel, message, (err, receivers) => (err ? reject(err) : resolve(receivers!)));
  });
  const ownHello = presencePattern(uid, 'hello');

  /** The servers known to be up, one Set for every request sent while they do not change. */
  let livePeerSet: Set<string> | undefined;
  const clocks = new PeerClocks();
  const heardFrom = (peer: string, now: number) => {
    if (!peers.has(peer)) livePeerSet = undefined;
    peers.set(peer, now);
  };
  const forget = (peer: string) => {
    peers.delete(peer);
    clocks.forget(peer);
    livePeerSet = undefined;
  };
  const isLive = (peer: string) => Date.now() - (peers.get(peer) ?? -Infinity) <= PEER_EXPIRY_MS;
  const livePeers = () => {
    const now = Date.now();
    for (const [peer, seen] of peers) if (now - seen > PEER_EXPIRY_MS) forget(peer);
    return livePeerSet ??= new Set(peers.keys());
  };

  // One timer for every request: they all wait `timeout`, so they expire in the order they were sent.
  // It is left to run out when no request is pending: one request at a time then arms one timer
  // per `timeout`, not one each. Unref'd: it never keeps the process alive by itself.
  let expiryTimer: NodeJS.Timeout | undefined;
  const expireRequests = () => {
    expiryTimer = undefined;
    const now = performance.now();
    for (const entry of pending.values()) {
      if (entry.deadline > now) break;
      settle(entry, new RoomsError('E_TIMEOUT', `sails-hook-rooms: only ${entry.replies.length} of ${entry.awaited.size} other servers answered within ${config.timeout} ms `
        + '(sails.config.rooms.timeout); the change was applied on this server and on the servers that answered.'));
    }
    scheduleExpiry();
  };
  const scheduleExpiry = () => {
    if (expiryTimer || pending.size === 0) return;
    const oldest = pending.values().next().value as PendingRequest;
    expiryTimer = setTimeout(expireRequests, oldest.deadline - performance.now()).unref();
  };

  const settle = (entry: PendingRequest, err: RoomsError | null) => {
    if (!pending.delete(entry.id)) return;
    entry.done(err, err ? undefined : entry.replies);
  };

  const checkDone = (entry: PendingRequest) => {
    if (entry.missingIds?.size === 0) return settle(entry, null);
    if (!entry.published) return;
    for (const peer of entry.awaited) if (!entry.repliedBy.includes(peer)) return;
    if (entry.channel !== requestChannel) return askEveryone(entry);
    settle(entry, null);
  };

  const publishRequest = (entry: PendingRequest) => {
    send(entry.channel, entry.message, (err) => {
      if (err) return settle(entry, notPublished(err));
      entry.published = true;
      checkDone(entry);
    });
  };

  /** A request sent on a stale route: the others may hold what its server did not. */
  const askEveryone = (entry: PendingRequest) => {
    routes.forget(entry.missingIds!);
    entry.channel = requestChannel;
    entry.awaited = livePeers();
    entry.published = false;
    publishRequest(entry);
  };

  const failPending = (err: RoomsError) => {
    for (const entry of [...pending.values()]) settle(entry, err);
  };

  const onPresence = (from: string, type: Presence, now: number) => {
    if (type === 'bye') {
      forget(from);
      for (const entry of pending.values()) { entry.awaited.delete(from); checkDone(entry); }
      return;
    }
    heardFrom(from, now);
    if (type === 'hello') announce('beat');
    if (type === 'up') {
      // It (re)subscribed: requests it may have missed meanwhile are sent again (changes are idempotent).
      for (const entry of pending.values()) {
        if (entry.awaited.has(from) && !entry.repliedBy.includes(from)) send(entry.channel, entry.message);
      }
    }
  };

  type MessageOf<T extends Message['t']> = Extract<Message, { t: T }>;

  const onRequest = (message: MessageOf<'request'>) => {
    const reply = answer(nsp, message.request);
    if (message.reply) send(inboxOf(message.from), encodeReply(uid, message.id, reply));
  };

  const onReply = ({ from, id, reply }: MessageOf<'reply'>) => {
    const entry = pending.get(id);
    if (!entry || entry.repliedBy.includes(from)) return;
    const foundIds = reply.foundIds === 'all' ? entry.wantedIds ?? [] : reply.foundIds;
    entry.repliedBy.push(from);
    entry.replies.push({ matched: reply.matched, foundIds, names: reply.names });
    // A directed request's answer tells nothing new about where its sockets are.
    if (entry.channel === requestChannel) routes.learn(from, foundIds);
    for (const found of foundIds) entry.missingIds?.delete(found);
    checkDone(entry);
  };

  /** A message from another server, on the request channel or in this server's inbox. */
  const onMessage = (message: Message) => {
    if (message.t === 'reply') return onReply(message);
    const now = Date.now();
    // Messages held up (a stalled Redis, commands replayed after a reconnect) show their age.
    const delay = clocks.delayOf(message.from, message.sentAt, now);
    if (message.t !== 'request') return onPresence(message.from, message.t, now);
    // Its sender gave up on it (E_TIMEOUT): applied now, it could undo changes confirmed since.
    if (delay > message.ttl) return;
    heardFrom(message.from, now);
    onRequest(message);
  };

  const onRequestChannel = (raw: string) => {
    // Redis delivers this server's own messages back to it.
    if (sentBy(raw, uid)) {
      // Our own hello came back: our subscription works, so tell the others to resend.
      if (ownHello.test(raw)) announce('up');
      return;
    }
    handlePublish(raw);
  };

  const readMessages = (raw: string) => forEachMessage(raw, onMessage);
  const readMessagesThenSend = (raw: string) => outbox.sendingFrom(readMessages, raw);
  /**
   * Handles one PUBLISH from another server: the messages it makes this server send leave at
   * its end, then the callbacks of the operations it completed are called.
   */
  const handlePublish = (raw: string) => callingBackAfter(readMessagesThenSend, raw);

  const unsubscribers = [
    await subscribe(sub, requestChannel, onRequestChannel, sharded),
    await subscribe(sub, inboxOf(uid), handlePublish, sharded),
  ];

  /** On either client's 'ready': once both are back, announce this server (which comes back first varies). */
  const sayHello = () => {
    if (!isReady(pub) || !isReady(sub)) return;
    // Back after an outage: the servers known before were not silent, this server was deaf. They
    // get a full expiry period to be heard again before they are taken for gone.
    const now = Date.now();
    for (const peer of peers.keys()) peers.set(peer, now);
    announce('hello');
  };

  /** Says hello and waits (briefly) for the servers already up to answer, so the first operations await them. */
  async function discoverPeers() {
    const receivers = await sent(requestChannel, encodePresence(uid, 'hello'));
    const others = receivers - 1;
    const deadline = Date.now() + Math.min(config.timeout, DISCOVERY_MS);
    // Other subscribers of the channel (e.g. a monitoring tool) never answer: the deadline bounds the wait.
    while (peers.size < others && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const onSubLost = (err: unknown) => {
    if (pending.size > 0) {
      failPending(unavailable('sails-hook-rooms lost its Redis connection while waiting for other servers: '
        + 'the change was applied on this server and may or may not have been applied on the others.', err));
    }
  };
  pub.on('ready', sayHello);
  sub.on('ready', sayHello);
  sub.on('error', onSubLost);
  await discoverPeers();
  const heartbeat = setInterval(() => {
    if (isReady(pub)) announce('beat');
  }, HEARTBEAT_MS);
  heartbeat.unref();

  const adapterPub = withHandledPromises(pub, log);
  const adapterSub = withHandledPromises(sub, log);
  // Static subscriptions: a room's broadcasts never wait for a per-room SSUBSCRIBE after a join.
  io.adapter(sharded
    ? createShardedAdapter(adapterPub, adapterSub, { channelPrefix: config.key, subscriptionMode: 'static' })
    : createAdapter(adapterPub, adapterSub, { key: config.key, publishOnSpecificResponseChannel: true }));

  /**
   * Sends a request to the other servers; `done` gets the replies of those concerned (callbacks,
   * not promises: thousands of requests may be in flight, each should hold little).
   */
  function ask(request: ClusterRequest, wantedIds: string[] | undefined, done: Done): void {
    // `done` is told after ask() returned, whatever happens.
    if (closed) return process.nextTick(done, unavailable('sails-hook-rooms is lowered: no cluster operation is possible.'));
    if (!isReady(pub) || !isReady(sub)) {
      return process.nextTick(done, unavailable('sails-hook-rooms cannot reach Redis right now: the change was applied on this server only. '
        + 'Check Redis; the hook reconnects by itself.'));
    }
    const reply = config.confirm === 'cluster' || request.kind !== 'change';
    const id = nextId++;
    const message = encodeRequest(uid, id, reply, config.timeout, request);
    const holder = wantedIds && routes.holderOf(wantedIds);
    const directed = holder !== undefined && isLive(holder);
    const channel = directed ? inboxOf(holder) : requestChannel;
    if (!reply) return send(channel, message, (err) => done(err ? notPublished(err) : null, []));

    const entry: PendingRequest = {
      id,
      message,
      channel,
      deadline: performance.now() + config.timeout,
      awaited: directed ? new Set([holder]) : livePeers(),
      published: false,
      repliedBy: [],
      replies: [],
      wantedIds,
      missingIds: wantedIds && new Set(wantedIds),
      done,
    };
    pending.set(id, entry);
    scheduleExpiry();
    publishRequest(entry);
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
      clearInterval(heartbeat);
      clearTimeout(expiryTimer);
      failPending(unavailable('sails-hook-rooms was lowered while waiting for other servers.'));
      removeListenerSafely(pub, 'ready', sayHello);
      removeListenerSafely(sub, 'ready', sayHello);
      removeListenerSafely(sub, 'error', onSubLost);
      if (isReady(pub)) await sent(requestChannel, encodePresence(uid, 'bye')).catch(() => {});
      if (ownsClients) {
        // The 'error' listeners stay: a late socket error must not crash the process.
        await Promise.all([closeClient(pub), closeClient(sub)]);
        return;
      }
      for (const client of [pub, sub]) {
        removeListenerSafely(client, 'ready', onReady);
        removeListenerSafely(client, 'error', onLog);
      }
      await Promise.all(unsubscribers.map((unsubscribe) => unsubscribe().catch(() => {})));
    },
  };
}
