/**
 * The soak's sockets: real socket.io-client 4 connections, spread over the servers, each recording
 * what reaches it that it must (or must never) see.
 */
import { connectRaw, type TestClient } from '../test/support/clients';
import type { SoakServer } from './cluster';

/** What a fixture broadcast carries (RoomsController: `{ roomName, data, server }`). */
interface FunMessage {
  roomName?: unknown;
  data?: unknown;
  server?: string;
}

export interface FleetSocket {
  id: string;
  server: number;
  client: TestClient;
  connected: boolean;
  /** Operations whose announcement (sent from a confirmed join's or leave's callback) reached this socket. */
  announcements: Set<number>;
  /** Flushes received (see engine.ts: a message to the socket's own ID room after an announcement). */
  flushes: Set<number>;
  /** Sentinels received: nonce → servers it came from. */
  sentinels: Map<number, Set<string>>;
}

/** A socket its server disconnected while running (a conflict after a partition, the last resort, or a bug). */
export interface Disconnect {
  socket: FleetSocket;
  at: number;
  reason: string;
}

export interface Fleet {
  sockets: FleetSocket[];
  /** Sockets that disconnected while their server was running, in order. */
  disconnects: Disconnect[];
  /** Told of each of those at once (the engine takes the socket out of its model). */
  onDisconnect?: (disconnect: Disconnect) => void;
  disconnectAll(): void;
}

const CONNECT_BATCH = 100;

export async function connectFleet(servers: readonly SoakServer[], count: number): Promise<Fleet> {
  const fleet: Fleet = {
    sockets: [],
    disconnects: [],
    disconnectAll() {
      for (const socket of fleet.sockets) {
        socket.connected = false;
        socket.client.disconnect();
      }
    },
  };
  const connectOne = async (index: number): Promise<FleetSocket> => {
    const serverIndex = index % servers.length;
    const server = servers[serverIndex]!;
    const client = await connectRaw(server.url);
    const socket: FleetSocket = {
      id: await client.socketId(),
      server: serverIndex,
      client,
      connected: true,
      announcements: new Set(),
      flushes: new Set(),
      sentinels: new Map(),
    };
    client.on('fun', (message: FunMessage) => {
      const data = message?.data as { leaveOf?: string; joinOf?: string; op?: number } | undefined;
      if (data?.leaveOf === socket.id || data?.joinOf === socket.id) socket.announcements.add(data.op!);
    });
    client.on('soak:flush', (message: FunMessage) => {
      socket.flushes.add((message?.data as { flush: number }).flush);
    });
    client.on('soak:sentinel', (message: { nonce: number; server: string }) => {
      const from = socket.sentinels.get(message.nonce) ?? new Set<string>();
      from.add(message.server);
      socket.sentinels.set(message.nonce, from);
    });
    // Clients do not reconnect (connectRaw): a socket disconnected is gone for the soak.
    client.on('disconnect', (reason: string) => {
      const noticed = socket.connected && server.alive;
      socket.connected = false;
      if (!noticed) return;
      const disconnect = { socket, at: performance.now(), reason };
      fleet.disconnects.push(disconnect);
      fleet.onDisconnect?.(disconnect);
    });
    return socket;
  };
  try {
    for (let start = 0; start < count; start += CONNECT_BATCH) {
      const batch = await Promise.allSettled(Array.from({ length: Math.min(CONNECT_BATCH, count - start) }, (_, i) => connectOne(start + i)));
      for (const outcome of batch) if (outcome.status === 'fulfilled') fleet.sockets.push(outcome.value);
      const failed = batch.find((outcome) => outcome.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    }
  } catch (err) {
    fleet.disconnectAll();
    throw err;
  }
  return fleet;
}
