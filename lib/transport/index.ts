import type { Server } from 'socket.io';
import type { ResolvedRoomsConfig } from '../config';
import type { Logger } from '../sails';
import { createMemoryTransport } from './memory';
import { createRedisTransport } from './redis';
import type { ClusterTransport, TransportEvents } from './transport';

/** Builds the transport `sails.config.rooms.adapter` names; the Redis ones attach their socket.io adapter. */
export function createTransport(
  uid: string, config: ResolvedRoomsConfig, io: Server, log: Logger, emit: TransportEvents,
): Promise<ClusterTransport> {
  if (config.adapter === 'memory') return Promise.resolve(createMemoryTransport());
  return createRedisTransport({ uid, config, io, log, emit });
}
