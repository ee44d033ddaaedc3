import type { Server } from 'socket.io';
import type { ResolvedRoomsConfig } from '../config';
import { RoomsError } from '../errors';
import { createMemoryTransport } from './memory';
import type { ClusterTransport } from './transport';

/** Builds the transport `sails.config.rooms.adapter` names, attaching its socket.io adapter first. */
export async function createTransport(config: ResolvedRoomsConfig, _io: Server): Promise<ClusterTransport> {
  if (config.adapter === 'memory') return createMemoryTransport();
  throw new RoomsError('E_INVALID_CONFIG', `sails.config.rooms.adapter '${config.adapter}' is not available in this version: use 'memory'.`);
}
