/**
 * Room membership as tests observe it: the adapter's view on this server, and what broadcasts
 * really reach a client.
 */
import type { Socket } from 'socket.io';
import type { Response, TestClient } from './clients';
import type { SailsTestApp } from './fixture';

/** A connected client and its socket ID as the server sees it. */
export interface Listener {
  client: TestClient;
  socketId: string;
}

export async function listenerFor(client: TestClient): Promise<Listener> {
  return { client, socketId: await client.socketId() };
}

/** The server-side socket.io `Socket` of a connected socket ID; throws if it is not connected here. */
export function serverSocketOf(app: SailsTestApp, socketId: string): Socket {
  const socket = app.io.of('/').sockets.get(socketId);
  if (!socket) throw new Error(`socket ${socketId} is not connected to this server`);
  return socket;
}

/** The rooms a socket of this server is in, from the adapter, its own ID room included, sorted. */
export function localRoomsOf(app: SailsTestApp, socketId: string): string[] {
  return [...(app.io.of('/').adapter.sids.get(socketId) ?? [])].sort();
}

/** The IDs of this server's sockets in `room`, from the adapter, sorted. */
export function localMembersOf(app: SailsTestApp, room: string): string[] {
  return [...(app.io.of('/').adapter.rooms.get(room) ?? [])].sort();
}

const PROBE_EVENT = 'rooms-test:probe';
let probeSequence = 0;

interface Probe {
  nonce: number;
  room?: string;
  sentinel?: true;
}

/**
 * Broadcasts one probe to each of `rooms` (one broadcast per room), then a sentinel to each
 * listener's `sentinelRoom` (default: its own ID room). Resolves, once every sentinel arrived, with
 * the rooms whose probe reached each listener, in arrival order.
 *
 * One server delivers to one socket in order, so a probe that has not arrived before the sentinel
 * never will: "not received" needs no sleep.
 */
export async function roomsReachingEach(
  app: SailsTestApp,
  listeners: readonly (Listener & { sentinelRoom?: string })[],
  rooms: readonly string[],
  timeoutMs = 5000,
): Promise<string[][]> {
  const nonce = ++probeSequence;
  const arrivals = listeners.map((listener) => {
    const reached: string[] = [];
    let onProbe!: (probe: Probe) => void;
    const done = new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        listener.client.off(PROBE_EVENT, onProbe);
        reject(new Error(`the sentinel sent to ${listener.sentinelRoom ?? listener.socketId} did not reach ${listener.client.kind} client ${listener.socketId} within ${timeoutMs} ms`));
      }, timeoutMs);
      onProbe = (probe: Probe) => {
        if (probe?.nonce !== nonce) return;
        if (!probe.sentinel) {
          reached.push(probe.room!);
          return;
        }
        clearTimeout(timer);
        listener.client.off(PROBE_EVENT, onProbe);
        resolve(reached);
      };
    });
    listener.client.on(PROBE_EVENT, onProbe);
    return done;
  });

  for (const room of rooms) app.sockets.broadcast(room, PROBE_EVENT, { nonce, room } satisfies Probe);
  for (const listener of listeners) {
    app.sockets.broadcast(listener.sentinelRoom ?? listener.socketId, PROBE_EVENT, { nonce, sentinel: true } satisfies Probe);
  }
  return Promise.all(arrivals);
}

/** {@link roomsReachingEach} for one listener: which of `rooms` a broadcast reaches it from. */
export async function roomsReaching(
  app: SailsTestApp,
  listener: Listener & { sentinelRoom?: string },
  rooms: readonly string[],
  timeoutMs = 5000,
): Promise<string[]> {
  const [reached] = await roomsReachingEach(app, [listener], rooms, timeoutMs);
  return reached;
}

/**
 * Resolves once everything this server sent to the listener before the call has arrived (a
 * sentinel sent to its own ID room, or `sentinelRoom`, came back).
 */
export async function drained(app: SailsTestApp, listener: Listener & { sentinelRoom?: string }, timeoutMs = 5000): Promise<void> {
  await roomsReaching(app, listener, [], timeoutMs);
}

/** A socket request with any verb (TestClient.request is typed for get and post, both clients pass any verb on). */
export function requestWith<T = any>(
  client: TestClient,
  method: 'get' | 'post' | 'put' | 'patch' | 'delete',
  url: string,
  data?: Record<string, unknown>,
): Promise<Response<T>> {
  const request = client.request as (method: string, url: string, data?: Record<string, unknown>) => Promise<Response<T>>;
  return request(method, url, data);
}
