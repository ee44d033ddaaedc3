/**
 * The two Redis connections of a server (its own, made from `url` or `sentinel`, or the user's),
 * their outage state, and the subscriptions made on them. Whatever it opened, it closes, on every path.
 */
import { maskUrl, type ResolvedRoomsConfig } from '../../config';
import type { Logger } from '../../sails';
import { unavailable } from './requests';
import {
  closeClient, createClientsFromUrl, isClusterClient, isNodeRedis, isReady, lossEvents, publish, publishingInOrder, readyEvents,
  removeListenerSafely, resendsAfterReconnect, subscribe, subscribedAgain, subscribesOnNode,
  type AnyRedisClient, type MessageListener,
} from './clients';
import { createSentinelClients, describeSentinels, sentinelFix } from './sentinel';
import { describeTlsFailure } from './tls';

/** How often a cluster subscriber that lost a node is checked for its subscriptions on another. */
const RESUBSCRIBED_CHECK_MS = 100;

export interface RedisLink {
  /** The publishing client; with plain pub/sub on a Redis Cluster, a view that publishes in order (clients.ts). */
  readonly pub: AnyRedisClient;
  readonly sub: AnyRedisClient;
  readonly sharded: boolean;
  /** Both connections are up. */
  isReady(): boolean;
  /** And, on a node-redis cluster subscriber, the node carrying the hook's subscriptions. */
  isUp(): boolean;
  /** The publishing connection is up. */
  pubReady(): boolean;
  publish(channel: string, payload: string): Promise<number>;
  /** Subscribes `listener` to `channel`; unsubscribed by close(). */
  subscribe(channel: string, listener: MessageListener): Promise<void>;
  /** Called on either connection's 'ready' (which of them comes back first varies), or a cluster client's 'node-ready'. */
  onReady(listener: () => void): void;
  /** Called when the subscribing connection fails (a cluster client's: one that carries subscriptions). */
  onSubscriberLost(listener: (err: unknown) => void): void;
  /** Removes what the link added to the clients and closes those it created; safe to call twice. */
  close(): Promise<void>;
}

/** The clients the hook creates, and what the lift's errors say of them. */
interface OwnClients {
  pub: AnyRedisClient;
  sub: AnyRedisClient;
  /** Where they connect: "at <url, password masked>", "through the sentinels …". */
  where: string;
  /** What to check, once they could not connect within the timeout. */
  fix(lastError: unknown): string;
}

/** The clients the hook creates from `url` or `sentinel`; undefined when they are the user's. */
function ownClientsOf(config: ResolvedRoomsConfig): OwnClients | undefined {
  const { url, sentinel } = config;
  if (url !== undefined) {
    return {
      ...createClientsFromUrl(url, config.tls),
      where: `at ${maskUrl(url)}`,
      fix: () => `check sails.config.rooms.url and that Redis is running${url.startsWith('rediss:') ? ', with TLS on that port' : ''}.`,
    };
  }
  if (sentinel === undefined) return undefined;
  return {
    ...createSentinelClients(sentinel, config.tls, config.timeout),
    where: `through ${describeSentinels(sentinel)}`,
    fix: (lastError) => sentinelFix(sentinel, lastError),
  };
}

/** Connects clients the hook creates, failing within `timeoutMs`. */
async function connectOwnClients({ pub, sub, where, fix }: OwnClients, timeoutMs: number) {
  let lastError: unknown;
  let timer: NodeJS.Timeout | undefined;
  let failNow: (err: Error) => void = () => {};
  // ioredis in Sentinel mode says what each sentinel answered apart from its errors.
  let lastSentinelError: unknown;
  const rememberSentinel = (err: unknown) => { lastSentinelError = err; };
  const deadline = new Promise<never>((_, reject) => {
    failNow = reject;
    timer = setTimeout(() => reject(unavailable(
      `sails-hook-rooms could not reach Redis ${where} within ${timeoutMs} ms`
        + `${lastError instanceof Error ? ` (${lastError.message || lastError.name})` : ''}: ${fix(lastSentinelError ?? lastError)}`,
      lastError,
    )), timeoutMs);
  });
  const remember = (err: unknown) => {
    lastError = err;
    // A certificate Redis or this server refuses is refused again on every retry: fail now.
    const tlsFailure = describeTlsFailure(err);
    if (tlsFailure) failNow(unavailable(`sails-hook-rooms could not connect to Redis ${where} over TLS: ${tlsFailure} (config/rooms.js).`, err));
  };
  for (const client of [pub, sub]) {
    client.on('error', remember);
    client.on('sentinelError', rememberSentinel);
  }
  try {
    await Promise.race([Promise.all([pub.connect(), sub.connect()]), deadline]);
  } catch (err) {
    await Promise.all([closeClient(pub), closeClient(sub)]);
    throw err;
  } finally {
    clearTimeout(timer);
    for (const client of [pub, sub]) {
      client.off('error', remember);
      client.off('sentinelError', rememberSentinel);
    }
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

/** Told when an outage of a connection the link had established begins, and when both are back. */
export interface OutageListener {
  down(err: unknown): void;
  up(downMs: number): void;
}

export async function openLink(config: ResolvedRoomsConfig, log: Logger, outages: OutageListener): Promise<RedisLink> {
  const sharded = config.adapter === 'redis-sharded';
  const own = ownClientsOf(config);
  const ownsClients = own !== undefined;
  const { pub, sub } = own ?? { pub: config.pubClient as AnyRedisClient, sub: config.subClient as AnyRedisClient };
  // Without an 'error' listener a client error would crash the process. Reconnection attempts
  // fail many times per outage: the first failure is reported, then the recovery. Before the
  // link is up, a failure is the lift's to report (it never had a connection to lose).
  let established = false;
  let closed = false;
  let outageSince: number | undefined;
  // A node-redis cluster subscriber lost the node that carried the hook's subscriptions: Redis is down
  // for this server until they are up again (on the promoted replica), though the client says it is ready.
  let subscriptionsLost = false;
  let resubscribedCheck: NodeJS.Timeout | undefined;
  const onError = (err: unknown = new Error('the connection was closed')) => {
    if (!established || closed || outageSince !== undefined) return;
    outageSince = Date.now();
    const meanwhile = config.whenRedisDown === 'wait'
      ? `cluster operations wait for it, up to ${config.timeout} ms each (whenRedisDown: 'wait')`
      : 'cluster operations fail with E_UNAVAILABLE until it is back';
    log.warn(`sails-hook-rooms: lost the connection to Redis; ${meanwhile}:`, err);
    outages.down(err);
  };
  const onBack = () => {
    if (outageSince === undefined || subscriptionsLost || !isReady(pub) || !isReady(sub)) return;
    const downMs = Date.now() - outageSince;
    outageSince = undefined;
    log.warn(`sails-hook-rooms: connected to Redis again, after ${(downMs / 1000).toFixed(1)} s.`);
    outages.up(downMs);
  };
  for (const client of [pub, sub]) {
    for (const event of lossEvents(client)) client.on(event, onError);
    client.on('ready', onBack);
  }

  if (own) await connectOwnClients(own, config.timeout);
  else {
    await awaitUserClients([pub, sub], config.timeout);
    if (resendsAfterReconnect(pub)) {
      // A PUBLISH written as the connection dropped fails its operation; re-sent, the change would apply later.
      log.warn('sails-hook-rooms: sails.config.rooms.pubClient re-sends, after a reconnect, the commands it had written without a reply: '
        + 'a change that failed with E_UNAVAILABLE could then be applied later. Create it with autoResendUnfulfilledCommands: false (ioredis).');
    }
  }
  established = true;

  const added: Array<[AnyRedisClient, string, (...args: any[]) => void]> = [];
  const unsubscribers: Array<() => Promise<void>> = [];
  const channels: string[] = [];
  const subscriberLostListeners: Array<(err: unknown) => void> = [];

  if (isNodeRedis(sub) && isClusterClient(sub)) {
    const resubscribed = () => {
      if (!subscriptionsLost || !subscribedAgain(sub, channels)) return;
      subscriptionsLost = false;
      clearInterval(resubscribedCheck);
      onBack();
    };
    // The hook's own channels only: the adapter's alone cost broadcasts meanwhile, whatever the hook does.
    const onNodeError = (err: unknown, node?: { host?: string; port?: number }) => {
      if (closed || !subscribesOnNode(sub, node, channels)) return;
      if (!subscriptionsLost) {
        subscriptionsLost = true;
        onError(err);
        resubscribedCheck = setInterval(resubscribed, RESUBSCRIBED_CHECK_MS);
      }
      for (const listener of subscriberLostListeners) listener(err);
    };
    sub.on('node-error', onNodeError);
    added.push([sub, 'node-error', onNodeError]);
  }

  // On a Redis Cluster, plain PUBLISHes all go through the primary of the hook's slot, in order.
  const publisher = sharded ? pub : publishingInOrder(pub, `{${config.key}-rooms}:publish`);

  return {
    pub: publisher,
    sub,
    sharded,
    isReady: () => isReady(pub) && isReady(sub),
    isUp: () => !subscriptionsLost && isReady(pub) && isReady(sub),
    pubReady: () => isReady(pub),
    publish: (channel, payload) => publish(publisher, channel, payload, sharded),
    async subscribe(channel, listener) {
      unsubscribers.push(await subscribe(sub, channel, listener, sharded));
      channels.push(channel);
    },
    onReady(listener) {
      for (const client of [pub, sub]) {
        for (const event of readyEvents(client)) {
          client.on(event, listener);
          added.push([client, event, listener]);
        }
      }
    },
    onSubscriberLost(listener) {
      for (const event of lossEvents(sub)) {
        sub.on(event, listener);
        added.push([sub, event, listener]);
      }
      subscriberLostListeners.push(listener);
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(resubscribedCheck);
      for (const [client, event, listener] of added) removeListenerSafely(client, event, listener);
      if (ownsClients) {
        // The 'error' listeners stay: a late socket error must not crash the process.
        await Promise.all([closeClient(pub), closeClient(sub)]);
        return;
      }
      for (const client of [pub, sub]) {
        removeListenerSafely(client, 'ready', onBack);
        for (const event of lossEvents(client)) removeListenerSafely(client, event, onError);
      }
      await Promise.all(unsubscribers.map((unsubscribe) => unsubscribe().catch(() => {})));
    },
  };
}
