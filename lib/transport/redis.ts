import { randomUUID } from 'node:crypto';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { Namespace, Server } from 'socket.io';
import { maskUrl, type ResolvedRoomsConfig } from '../config';
import type { Logger } from '../deliver';
import { RoomsError } from '../errors';
import { applyLocally, type MembershipChange } from '../membership';
import { createOutbox, unpack } from './outbox';
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
  | { t: 'request'; id: number; reply: boolean; request: ClusterRequest }
  | { t: 'reply'; id: number; reply: Reply }
  /** `hello`: (re)subscribed; `up`: saw its own hello, so requests reach it now; `beat`: still here; `bye`: lowering. */
  | { t: 'hello' | 'up' | 'beat' | 'bye' };

/**
 * The messages that cross Redis on the hook's own channels, as JSON. A PUBLISH carries one, or a
 * JSON array of those one server sent on that channel in the same tick (outbox.ts). `from` comes
 * first: Redis delivers a server's messages back to it, and it knows them by their first bytes.
 */
type WireMessage = { from: string } & Content;

interface PendingRequest {
  message: string;
  /** Servers known to be up when it was sent: each must answer. */
  awaited: Set<string>;
  /** Redis accepted it (PUBLISH answered). */
  published: boolean;
  replies: Map<string, Reply>;
  /** For join/leave by ID and socket look-ups: done as soon as none of these is missing. */
  missingIds: Set<string> | undefined;
  settle(err: RoomsError | null): void;
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

  const encode = (content: Content) => JSON.stringify({ from: uid, ...content });
  const outbox = createOutbox((channel, payload) => publish(pub, channel, payload, sharded));
  /** Publishes a message (or one already encoded) with the others sent on `channel` in this tick. */
  const send = (channel: string, message: Content | string) => outbox(channel, typeof message === 'string' ? message : encode(message));
  const ownMessage = `{"from":"${uid}"`;
  const ownBatch = `[${ownMessage}`;

  const livePeers = () => {
    const now = Date.now();
    for (const [peer, seen] of peers) if (now - seen > PEER_EXPIRY_MS) peers.delete(peer);
    return new Set(peers.keys());
  };

  const checkDone = (entry: PendingRequest) => {
    if (entry.missingIds?.size === 0) return entry.settle(null);
    if (!entry.published) return;
    for (const peer of entry.awaited) if (!entry.replies.has(peer)) return;
    entry.settle(null);
  };

  const failPending = (err: RoomsError) => {
    for (const entry of [...pending.values()]) entry.settle(err);
  };

  const onPresence = (from: string, type: 'hello' | 'up' | 'beat' | 'bye') => {
    if (type === 'bye') {
      peers.delete(from);
      for (const entry of pending.values()) { entry.awaited.delete(from); checkDone(entry); }
      return;
    }
    peers.set(from, Date.now());
    if (type === 'hello') void send(requestChannel, { t: 'beat' }).catch(() => {});
    if (type === 'up') {
      // It (re)subscribed: requests it may have missed meanwhile are sent again (changes are idempotent).
      for (const entry of pending.values()) {
        if (entry.awaited.has(from) && !entry.replies.has(from)) void send(requestChannel, entry.message).catch(() => {});
      }
    }
  };

  const onRequest = (message: WireMessage) => {
    if (message.t === 'request') {
      peers.set(message.from, Date.now());
      const reply = answer(nsp, message.request);
      if (message.reply) void send(replyChannel(message.from), { t: 'reply', id: message.id, reply }).catch(() => {});
      return;
    }
    if (message.t !== 'reply') onPresence(message.from, message.t);
  };

  const onRequestChannel = (raw: string) => {
    if (raw.startsWith(ownMessage) || raw.startsWith(ownBatch)) {
      // Our own hello came back: our subscription works, so tell the others to resend.
      if (raw.includes('"t":"hello"')) void send(requestChannel, { t: 'up' }).catch(() => {});
      return;
    }
    for (const message of unpack<WireMessage>(raw)) onRequest(message);
  };

  const onReply = (message: WireMessage) => {
    if (message.t !== 'reply') return;
    peers.set(message.from, Date.now());
    const entry = pending.get(message.id);
    if (!entry || entry.replies.has(message.from)) return;
    entry.replies.set(message.from, message.reply);
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

  const sayHello = () => {
    // Subscribed again after an outage: the servers known before were not silent, this server was
    // deaf. They get a full expiry period to be heard again before they are taken for gone.
    const now = Date.now();
    for (const peer of peers.keys()) peers.set(peer, now);
    if (isReady(pub)) void send(requestChannel, { t: 'hello' }).catch(() => {});
  };

  /** Says hello and waits (briefly) for the servers already up to answer, so the first operations await them. */
  async function discoverPeers() {
    const receivers = await send(requestChannel, { t: 'hello' });
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
  sub.on('ready', sayHello);
  sub.on('error', onSubLost);
  await discoverPeers();
  const heartbeat = setInterval(() => {
    if (isReady(pub)) void send(requestChannel, { t: 'beat' }).catch(() => {});
  }, HEARTBEAT_MS);
  heartbeat.unref();

  const adapterPub = withHandledPromises(pub, log);
  const adapterSub = withHandledPromises(sub, log);
  // Static subscriptions: a room's broadcasts never wait for a per-room SSUBSCRIBE after a join.
  io.adapter(sharded
    ? createShardedAdapter(adapterPub, adapterSub, { channelPrefix: config.key, subscriptionMode: 'static' })
    : createAdapter(adapterPub, adapterSub, { key: config.key, publishOnSpecificResponseChannel: true }));

  function ask(request: ClusterRequest, wantedIds?: string[]): Promise<Reply[]> {
    if (closed) return Promise.reject(unavailable('sails-hook-rooms is lowered: no cluster operation is possible.'));
    if (!isReady(pub) || !isReady(sub)) {
      return Promise.reject(unavailable('sails-hook-rooms cannot reach Redis right now: the change was applied on this server only. '
        + 'Check Redis; the hook reconnects by itself.'));
    }
    const reply = config.confirm === 'cluster' || request.kind !== 'change';
    const id = nextId++;
    const message = encode({ t: 'request', id, reply, request });
    if (!reply) return send(requestChannel, message).then(() => [], (err) => { throw unavailable(`sails-hook-rooms could not publish to Redis: ${String(err)}`, err); });

    return new Promise<Reply[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        entry.settle(new RoomsError('E_TIMEOUT', `sails-hook-rooms: only ${entry.replies.size} of ${entry.awaited.size} other servers answered within ${config.timeout} ms `
          + '(sails.config.rooms.timeout); the change was applied on this server and on the servers that answered.'));
      }, config.timeout);
      const entry: PendingRequest = {
        message,
        awaited: livePeers(),
        published: false,
        replies: new Map(),
        missingIds: wantedIds && new Set(wantedIds),
        settle(err) {
          if (!pending.delete(id)) return;
          clearTimeout(timer);
          if (err) reject(err);
          else resolve([...entry.replies.values()]);
        },
      };
      pending.set(id, entry);
      send(requestChannel, message).then(() => {
        entry.published = true;
        checkDone(entry);
      }, (err) => entry.settle(unavailable(`sails-hook-rooms could not publish to Redis: ${String(err)}`, err)));
    });
  }

  const sum = (replies: Reply[]): PeerAnswer => ({
    servers: replies.length,
    matched: replies.reduce((total, r) => total + r.matched, 0),
    foundIds: replies.flatMap((r) => r.foundIds),
    confirmed: config.confirm === 'cluster',
  });

  return {
    clustered: true,
    async sendChange(change) {
      const wanted = change.type === 'join' || change.type === 'leave' ? change.socketIds : undefined;
      return sum(await ask({ kind: 'change', change }, wanted));
    },
    async roomsOfRemoteSocket(socketId) {
      const replies = await ask({ kind: 'roomsOf', socketId }, [socketId]);
      return replies.find((r) => r.rooms)?.rooms ?? null;
    },
    async remoteMembersOf(room) {
      const replies = await ask({ kind: 'membersOf', room });
      return replies.flatMap((r) => r.members ?? []);
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      failPending(unavailable('sails-hook-rooms was lowered while waiting for other servers.'));
      removeListenerSafely(sub, 'ready', sayHello);
      removeListenerSafely(sub, 'error', onSubLost);
      if (isReady(pub)) await send(requestChannel, { t: 'bye' }).catch(() => {});
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
