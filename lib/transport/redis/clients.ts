import { once, type EventEmitter } from 'node:events';
import { createClient } from 'redis';
import type { Logger } from '../../sails';
import type { RoomsTlsOptions } from '../../types';

/** A connected Redis client of either library this hook accepts. */
export type AnyRedisClient = Record<string, any>;
export type MessageListener = (message: string) => void;

/** node-redis v4+ has `pSubscribe`; ioredis has the lowercase commands and events. */
export function isNodeRedis(client: AnyRedisClient): boolean {
  return typeof client.pSubscribe === 'function';
}

/** A Redis Cluster client: node-redis' createCluster() (it lists its primaries), or an ioredis Cluster. */
export function isClusterClient(client: AnyRedisClient): boolean {
  return Array.isArray(client.masters) || client.isCluster === true;
}

export function isReady(client: AnyRedisClient): boolean {
  return isNodeRedis(client) ? client.isReady === true : client.status === 'ready';
}

/**
 * The events by which a client says it lost its connection. ioredis says only 'close' when no
 * socket error caused it: Redis closed the connection, or ioredis left a primary the sentinels replaced.
 */
export function lossEvents(client: AnyRedisClient): readonly string[] {
  return isNodeRedis(client) ? ['error'] : ['error', 'close'];
}

/**
 * Whether a client writes again, after a reconnect, the commands it had written without a reply:
 * ioredis does unless `autoResendUnfulfilledCommands` is off (a Cluster: in its `redisOptions`).
 */
export function resendsAfterReconnect(client: AnyRedisClient): boolean {
  if (isNodeRedis(client)) return false;
  const options = client.isCluster === true ? client.options?.redisOptions : client.options;
  return options?.autoResendUnfulfilledCommands !== false;
}

/** The events by which a client says it is connected again; a node-redis cluster client says it of each node's connection. */
export function readyEvents(client: AnyRedisClient): readonly string[] {
  return isNodeRedis(client) && isClusterClient(client) ? ['ready', 'node-ready'] : ['ready'];
}

/** A node-redis cluster client's pub/sub connections, each with the address ("host:port") of its node. */
function pubSubConnections(client: AnyRedisClient): Array<{ address: string; connection: AnyRedisClient }> {
  const found: Array<{ address: string; connection: AnyRedisClient }> = [];
  if (client.pubSubNode?.client) found.push({ address: client.pubSubNode.address, connection: client.pubSubNode.client });
  for (const [address, node] of (client.nodeByAddress as Map<string, AnyRedisClient> | undefined) ?? []) {
    if (node.pubSub?.client) found.push({ address, connection: node.pubSub.client });
  }
  return found;
}

/** Whether `connection` carries a subscription to `channel`, plain or sharded (any, if it cannot say which it has). */
function carries(connection: AnyRedisClient, channel: string): boolean {
  if (typeof connection.getPubSubListeners !== 'function') return true;
  return connection.getPubSubListeners('CHANNELS').has(channel) || connection.getPubSubListeners('SHARDED').has(channel);
}

/**
 * A node-redis cluster client reports a lost connection to one node only as 'node-error' (with
 * the node's host and port), and keeps saying it is ready. Whether its connection to that node
 * carries a subscription to one of `channels`.
 */
export function subscribesOnNode(client: AnyRedisClient, node: { host?: string; port?: number } | undefined, channels: readonly string[]): boolean {
  if (node?.host === undefined || node.port === undefined) return false;
  const address = `${node.host}:${node.port}`;
  return pubSubConnections(client).some((found) => found.address === address && channels.some((channel) => carries(found.connection, channel)));
}

/**
 * Whether each of `channels` is subscribed on a ready connection of a node-redis cluster client:
 * one to the promoted replica, or the same one reconnected (node-redis subscribes again before it is ready).
 */
export function subscribedAgain(client: AnyRedisClient, channels: readonly string[]): boolean {
  const ready = pubSubConnections(client).filter(({ connection }) => connection.isReady === true);
  return channels.every((channel) => ready.some(({ connection }) => carries(connection, channel)));
}

/** Creates the publishing and subscribing clients for `url` (node-redis), with `tls` for a rediss:// one. */
export function createClientsFromUrl(url: string, tls?: RoomsTlsOptions) {
  const options = {
    url,
    // The hook times out cluster operations itself; node-redis' per-command timer would only add cost.
    commandOptions: { timeout: 0 },
    // While disconnected, commands fail at once: queued, they would be sent after the reconnect, when
    // the operations they belong to have already failed (and later ones may have been confirmed).
    disableOfflineQueue: true,
    socket: {
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1000),
      ...(tls === undefined ? {} : { tls: true as const, ...tls }),
    },
  };
  return { pub: createClient(options), sub: createClient(options) };
}

/** Closes a client the hook created; quietly, whatever state it is in. */
export async function closeClient(client: AnyRedisClient): Promise<void> {
  try {
    if (isNodeRedis(client)) {
      // close() waits for the commands sent to be answered: a client that is not connected, e.g.
      // after a TLS handshake Redis refused, would wait forever.
      if (client.isOpen && client.isReady) await client.close();
      else client.destroy();
    } else {
      // Not QUIT: it fails while disconnected, and leaves the Sentinel failover detector's connections open.
      // Nothing may start it again once ended (sentinel.ts).
      client.removeAllListeners('end');
      const ended = client.status === 'ready' ? once(client as EventEmitter, 'end') : undefined;
      client.disconnect();
      await ended;
    }
  } catch {
    // Already closed or never connected: nothing left to release.
    if (isNodeRedis(client) && client.isOpen) client.destroy();
  }
}

/**
 * Removes a listener the hook added. A node-redis client is a view of an emitter: if its last
 * listener goes, it grows its own listener table and later listeners never hear the events, so
 * the last one stays (it only logs).
 */
export function removeListenerSafely(client: AnyRedisClient, event: string, listener: (...args: any[]) => void): void {
  const total = (client.eventNames() as Array<string | symbol>).reduce((sum, name) => sum + client.listenerCount(name), 0);
  if (total > 1) client.off(event, listener);
}

export function publish(client: AnyRedisClient, channel: string, message: string, sharded: boolean): Promise<number> {
  if (isNodeRedis(client)) return sharded ? client.sPublish(channel, message) : client.publish(channel, message);
  return sharded ? client.spublish(channel, message) : client.publish(channel, message);
}

const PUBLISH_SCRIPT = "return redis.call('PUBLISH', ARGV[1], ARGV[2])";

/**
 * A Redis Cluster client sends each PUBLISH (a command without a key) to a node of its choice, the
 * next one in turn (node-redis) or any (ioredis), and the cluster forwards it from there: two
 * messages of one server reach a subscriber on another node out of order, a broadcast after a
 * confirmed join behind the next one. Through this view every PUBLISH runs on the primary of
 * `routingKey`'s slot, as a script with that key, so one server's messages, the hook's and its
 * broadcasts alike, arrive in the order it sent them, as on one Redis. Other clients are returned as they are.
 */
export function publishingInOrder(client: AnyRedisClient, routingKey: string): AnyRedisClient {
  if (!isClusterClient(client)) return client;
  const inOrder = (channel: string, message: string) => evalScript(client, PUBLISH_SCRIPT, [routingKey], [channel, message]);
  return new Proxy(client, {
    get(target, property) {
      if (property === 'publish' || property === 'PUBLISH') return inOrder;
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Subscribes `listener` to one channel; resolves with the way to unsubscribe it. */
export async function subscribe(
  client: AnyRedisClient,
  channel: string,
  listener: MessageListener,
  sharded: boolean,
): Promise<() => Promise<void>> {
  if (isNodeRedis(client)) {
    const node = listener as (message: string, channel: string) => void;
    if (sharded) {
      await client.sSubscribe(channel, node);
      return () => client.sUnsubscribe(channel, node);
    }
    await client.subscribe(channel, node);
    return () => client.unsubscribe(channel, node);
  }
  // ioredis delivers every subscribed channel through one event.
  const event = sharded ? 'smessage' : 'message';
  const onMessage = (from: string, message: string) => { if (from === channel) listener(message); };
  client.on(event, onMessage);
  await (sharded ? client.ssubscribe(channel) : client.subscribe(channel));
  return async () => {
    client.off(event, onMessage);
    await (sharded ? client.sunsubscribe(channel) : client.unsubscribe(channel));
  };
}

/**
 * The socket.io Redis adapters call client commands and drop the promises (e.g. every broadcast's
 * PUBLISH); during a Redis outage those reject and would crash the process. This view of the
 * client attaches a handler to every promise it returns, and otherwise behaves as the client.
 */
export function withHandledPromises(client: AnyRedisClient, log: Logger): AnyRedisClient {
  const wrapped = new Map<PropertyKey, unknown>();
  let lastWarning = 0;
  let unreported = 0;
  // During an outage every broadcast fails: say so at most every few seconds.
  const onRejected = (err: unknown) => {
    unreported += 1;
    if (Date.now() - lastWarning < 5000) return;
    log.warn(`sails-hook-rooms: ${unreported} Redis command(s) of the socket.io adapter failed, the last with:`, err);
    lastWarning = Date.now();
    unreported = 0;
  };
  return new Proxy(client, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      let method = wrapped.get(property);
      if (!method) {
        method = (...args: unknown[]) => {
          const result = value.apply(target, args);
          if (result && typeof (result as Promise<unknown>).then === 'function') {
            (result as Promise<unknown>).then(undefined, onRejected);
          }
          return result;
        };
        wrapped.set(property, method);
      }
      return method;
    },
  });
}

/** Runs a Lua script (EVAL): on a Redis Cluster, on the node of its first key. */
export function evalScript(client: AnyRedisClient, script: string, keys: string[], args: string[]): Promise<unknown> {
  if (isNodeRedis(client)) return client.eval(script, { keys, arguments: args });
  return client.eval(script, keys.length, ...keys, ...args);
}
