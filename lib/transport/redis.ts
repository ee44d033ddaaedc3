import { randomUUID } from 'node:crypto';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { Namespace, Server } from 'socket.io';
import { maskUrl, type ResolvedRoomsConfig } from '../config';
import type { Logger } from '../deliver';
import { RoomsError } from '../errors';
import { applyLocally, type MembershipChange } from '../membership';
import { createOutbox, unpack, type Sent } from './outbox';
import { PeerClocks } from './peer-clocks';
import {
  closeClient, createClientsFromUrl, isReady, publish, removeListenerSafely, subscribe, withHandledPromises,
  type AnyRedisClient,
} from './redis-clients';
import type { ClusterTransport, PeerAnswer } from './transport';

/** What a server asks the others. */
type ClusterRequest =
  | { kind: 'change'; change: MembershipChange }
  | { kind: 'roomsOf'; socketId: string }
  | { kind: 'membersOf'; room: string };

/** What a server answers to a request. */
interface Reply {
  matched: number;
  foundIds: string[];
  rooms?: string[] | null;
  members?: string[];
}

/** What a message says (the sender is added when it is sent). */
type Content =
  /** `ttl`: the sender's timeout, past which it has given up on the request. */
  | { t: 'request'; id: number; reply: boolean; ttl: number; request: ClusterRequest }
  | { t: 'reply'; id: number; reply: Reply }
  /** `hello`: (re)subscribed; `up`: saw its own hello, so requests reach it now; `beat`: still here; `bye`: lowering. */
  | { t: 'hello' | 'up' | 'beat' | 'bye' };

/**
 * The messages that cross Redis on the hook's own channels, as JSON. A PUBLISH carries one, or a
 * JSON array of those one server sent on that channel in the same tick (outbox.ts). `from` comes
 * first: Redis delivers a server's messages back to it, and it knows them by their first bytes.
 */
type WireMessage = { from: string; sentAt: number } & Content;

/** How a request ends: the replies of the servers concerned, or why there are none. */
type Done = (err: RoomsError | null, replies?: Reply[]) => void;

interface PendingRequest {
  id: number;
  message: string;
  /** When it fails with E_TIMEOUT (performance.now()). */
  deadline: number;
  /** Servers known to be up when it was sent: each must answer. Shared by the requests sent while they did not change. */
  awaited: Set<string>;
  /** Redis accepted it (PUBLISH answered). */
  published: boolean;
  /** Who answered, and what (a few servers: arrays cost less than a Map). */
  repliedBy: string[];
  replies: Reply[];
  /** For join/leave by ID and socket look-ups: done as soon as none of these is missing. */
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
function answer(nsp: Namespace, request: ClusterRequest): Reply {
  switch (request.kind) {
    case 'change':
      return applyLocally(nsp, request.change);
    case 'roomsOf': {
      const socket = nsp.sockets.get(request.socketId);
      if (!socket) return { matched: 0, foundIds: [], rooms: null };
      return { matched: 1, foundIds: [socket.id], rooms: [...socket.rooms].filter((room) => room !== socket.id) };
    }
    case 'membersOf':
      return { matched: 0, foundIds: [], members: [...(nsp.adapter.rooms.get(request.room) ?? [])] };
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
  const requestChannel = `${config.key}-rooms#/#`;
  const replyChannel = (server: string) => `${config.key}-rooms#/#${server}#`;
  const peers = new Map<string, number>();
  const pending = new Map<number, PendingRequest>();
  let nextId = 1;
  let closed = false;

  const encode = (content: Content) => JSON.stringify({ from: uid, sentAt: Date.now(), ...content });
  const outbox = createOutbox((channel, payload) => publish(pub, channel, payload, sharded));
  /** Publishes a message (or one already encoded) with the others sent on `channel` in this tick. */
  const send = (channel: string, message: Content | string, onSent?: Sent) =>
    outbox(channel, typeof message === 'string' ? message : encode(message), onSent);
  /** {@link send}, resolving with the number of subscribers that received it. */
  const sent = (channel: string, message: Content | string) => new Promise<number>((resolve, reject) => {
    send(channel, message, (err, receivers) => (err ? reject(err) : resolve(receivers!)));
  });
  const ownMessage = `{"from":"${uid}"`;
  const ownBatch = `[${ownMessage}`;

  /** The servers known to be up, one Set for every request sent while they do not change. */
  let livePeerSet: Set<string> | undefined;
  const clocks = new PeerClocks();
  const heardFrom = (peer: string) => {
    if (!peers.has(peer)) livePeerSet = undefined;
    peers.set(peer, Date.now());
  };
  const forget = (peer: string) => {
    peers.delete(peer);
    clocks.forget(peer);
    livePeerSet = undefined;
  };
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
    settle(entry, null);
  };

  const failPending = (err: RoomsError) => {
    for (const entry of [...pending.values()]) settle(entry, err);
  };

  const onPresence = (from: string, type: 'hello' | 'up' | 'beat' | 'bye') => {
    if (type === 'bye') {
      forget(from);
      for (const entry of pending.values()) { entry.awaited.delete(from); checkDone(entry); }
      return;
    }
    heardFrom(from);
    if (type === 'hello') send(requestChannel, { t: 'beat' });
    if (type === 'up') {
      // It (re)subscribed: requests it may have missed meanwhile are sent again (changes are idempotent).
      for (const entry of pending.values()) {
        if (entry.awaited.has(from) && !entry.repliedBy.includes(from)) send(requestChannel, entry.message);
      }
    }
  };

  const onRequest = (message: WireMessage) => {
    // Messages held up (a stalled Redis, commands replayed after a reconnect) show their age.
    const delay = clocks.delayOf(message.from, message.sentAt);
    // Its sender gave up on it (E_TIMEOUT): applied now, it could undo changes confirmed since.
    if (message.t === 'request' && delay > message.ttl) return;
    if (message.t === 'request') {
      heardFrom(message.from);
      const reply = answer(nsp, message.request);
      if (message.reply) send(replyChannel(message.from), { t: 'reply', id: message.id, reply });
      return;
    }
    if (message.t !== 'reply') onPresence(message.from, message.t);
  };

  const onRequestChannel = (raw: string) => {
    if (raw.startsWith(ownMessage) || raw.startsWith(ownBatch)) {
      // Our own hello came back: our subscription works, so tell the others to resend.
      if (raw.includes('"t":"hello"')) send(requestChannel, { t: 'up' });
      return;
    }
    for (const message of unpack<WireMessage>(raw)) onRequest(message);
  };

  const onReply = (message: WireMessage) => {
    if (message.t !== 'reply') return;
    heardFrom(message.from);
    const entry = pending.get(message.id);
    if (!entry || entry.repliedBy.includes(message.from)) return;
    entry.repliedBy.push(message.from);
    entry.replies.push(message.reply);
    for (const id of message.reply.foundIds) entry.missingIds?.delete(id);
    checkDone(entry);
  };

  const onReplyChannel = (raw: string) => {
    for (const message of unpack<WireMessage>(raw)) onReply(message);
  };

  const unsubscribers = [
    await subscribe(sub, requestChannel, onRequestChannel, sharded),
    await subscribe(sub, replyChannel(uid), onReplyChannel, sharded),
  ];

  /** On either client's 'ready': once both are back, announce this server (which comes back first varies). */
  const sayHello = () => {
    if (!isReady(pub) || !isReady(sub)) return;
    // Back after an outage: the servers known before were not silent, this server was deaf. They
    // get a full expiry period to be heard again before they are taken for gone.
    const now = Date.now();
    for (const peer of peers.keys()) peers.set(peer, now);
    send(requestChannel, { t: 'hello' });
  };

  /** Says hello and waits (briefly) for the servers already up to answer, so the first operations await them. */
  async function discoverPeers() {
    const receivers = await sent(requestChannel, { t: 'hello' });
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
    if (isReady(pub)) send(requestChannel, { t: 'beat' });
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
    const message = encode({ t: 'request', id, reply, ttl: config.timeout, request });
    if (!reply) return send(requestChannel, message, (err) => done(err ? notPublished(err) : null, []));

    const entry: PendingRequest = {
      id,
      message,
      deadline: performance.now() + config.timeout,
      awaited: livePeers(),
      published: false,
      repliedBy: [],
      replies: [],
      missingIds: wantedIds && new Set(wantedIds),
      done,
    };
    pending.set(id, entry);
    scheduleExpiry();
    send(requestChannel, message, (err) => {
      if (err) return settle(entry, notPublished(err));
      entry.published = true;
      checkDone(entry);
    });
  }

  const asked = (request: ClusterRequest, wantedIds?: string[]) => new Promise<Reply[]>((resolve, reject) => {
    ask(request, wantedIds, (err, replies) => (err ? reject(err) : resolve(replies!)));
  });

  const sum = (replies: Reply[]): PeerAnswer => ({
    servers: replies.length,
    matched: replies.reduce((total, r) => total + r.matched, 0),
    foundIds: replies.flatMap((r) => r.foundIds),
    confirmed: config.confirm === 'cluster',
  });

  return {
    clustered: true,
    sendChange(change, answered) {
      const wanted = change.type === 'join' || change.type === 'leave' ? change.socketIds : undefined;
      ask({ kind: 'change', change }, wanted, (err, replies) => answered(err, err ? undefined : sum(replies!)));
    },
    async roomsOfRemoteSocket(socketId) {
      const replies = await asked({ kind: 'roomsOf', socketId }, [socketId]);
      return replies.find((r) => r.rooms)?.rooms ?? null;
    },
    async remoteMembersOf(room) {
      const replies = await asked({ kind: 'membersOf', room });
      return replies.flatMap((r) => r.members ?? []);
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
      if (isReady(pub)) await sent(requestChannel, { t: 'bye' }).catch(() => {});
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
