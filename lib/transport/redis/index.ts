/**
 * Redis: socket.io's Redis adapter carries broadcasts; the hook's own request/reply channels
 * carry membership changes, so a change is confirmed by every server that had to apply it.
 * A server cut off from Redis is fenced, and catches up when it comes back (docs/partitions.md).
 *
 * This file builds the real parts and hands them to node.ts, which wires one server:
 *   link.ts, clients.ts   the two connections (the hook's own or the user's), outages, subscriptions
 *   registry.ts           the cluster's record, as Lua scripts on those connections
 *   gate.ts               socket.io's adapter receives through it, so a server can hold what it receives
 *   primary-watch.ts      behind Sentinel: whether the Redis it is connected to is the primary the sentinels name
 */
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { Server } from 'socket.io';
import type { ResolvedRoomsConfig } from '../../config';
import type { Logger } from '../../sails';
import type { ClusterTransport, TransportEvents } from '../transport';
import { withHandledPromises } from './clients';
import { systemClock } from './clock';
import { gatedSubscriber } from './gate';
import { openLink, type RedisLink } from './link';
import { sentinelsOf, watchPrimary, type PrimaryWatch } from './primary-watch';
import { unavailable } from './requests';
import { requestChannelOf, startNode, withinTimeout } from './node';
import { createRedisRegistry } from './registry';

interface RedisTransportOptions {
  /** This server's ID: every socket ID of this server starts with it (socket-ids.ts). */
  uid: string;
  config: ResolvedRoomsConfig;
  io: Server;
  log: Logger;
  emit: TransportEvents;
}

/** Behind Sentinel, the watch on its primary, once the sentinels confirmed it; the lift fails if they do not within `timeout`. */
async function watchSentinels(config: ResolvedRoomsConfig, link: RedisLink): Promise<PrimaryWatch | undefined> {
  const watched = sentinelsOf(config, link.pub);
  if (watched === undefined) return undefined;
  const primary = watchPrimary({
    ...watched,
    connections: [link.pub, link.sub],
    clock: systemClock,
    // Through the sentinels again: ioredis asks them for the primary whenever it connects.
    onReplaced: () => { for (const client of [link.pub, link.sub]) client.disconnect(true); },
  });
  try {
    await primary.firstConfirmation(config.timeout);
    return primary;
  } catch (err) {
    await primary.close();
    await link.close();
    throw unavailable(`sails-hook-rooms: the sentinels did not confirm within ${config.timeout} ms that the Redis it connected to is `
      + `the primary '${watched.sentinel.name}': ${(err as Error).message}. Check that sentinel.nodes lists every sentinel (config/rooms.js).`, err);
  }
}

export async function createRedisTransport({ uid, config, io, log, emit }: RedisTransportOptions): Promise<ClusterTransport> {
  const link = await openLink(config, log, {
    down: (err) => emit('rooms:redis:down', { id: uid, error: err instanceof Error ? err.message || err.name : String(err) }),
    up: (downMs) => emit('rooms:redis:up', { id: uid, downMs }),
  });
  const registry = createRedisRegistry(link.pub, { key: config.key, channel: requestChannelOf(config.key), sharded: link.sharded });
  const primary = await watchSentinels(config, link);
  return startNode({
    uid,
    config,
    nsp: io.of('/'),
    log,
    emit,
    link,
    registry,
    clock: systemClock,
    primary,
    async attachAdapter(gate) {
      const subscriptions: Array<PromiseLike<unknown>> = [];
      const adapterPub = withHandledPromises(link.pub, log);
      const adapterSub = withHandledPromises(gatedSubscriber(link.sub, gate, subscriptions), log);
      // Static subscriptions: a room's broadcasts never wait for a per-room SSUBSCRIBE after a join.
      io.adapter(link.sharded
        ? createShardedAdapter(adapterPub, adapterSub, { channelPrefix: config.key, subscriptionMode: 'static' })
        : createAdapter(adapterPub, adapterSub, { key: config.key, publishOnSpecificResponseChannel: true }));
      // The adapter does not wait for its subscriptions: the lift does, so a refused one fails it.
      await withinTimeout(Promise.all(subscriptions), config.timeout);
    },
  });
}
