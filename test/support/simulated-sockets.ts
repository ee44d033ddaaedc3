/**
 * Sockets without a connection, for sizes real clients cannot reach on two cores: real socket.io
 * `Socket` objects (the app's own class, so `join`, `leave` and `rooms` run socket.io's code),
 * registered in the namespace and its adapter exactly as a connected socket is. The hook cannot
 * tell them apart from connected ones; they just have no client to send to, so never broadcast
 * to their rooms.
 */
import type { Namespace, Socket } from 'socket.io';

export function addSimulatedSockets(nsp: Namespace, prototype: Socket, prefix: string, count: number, rooms: readonly string[]): string[] {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const socket = Object.create(prototype) as Socket & Record<string, unknown>;
    Object.assign(socket, { id: `${prefix}${i}`, nsp, adapter: nsp.adapter, server: nsp.server, connected: true });
    nsp.sockets.set(socket.id, socket);
    void nsp.adapter.addAll(socket.id, new Set([socket.id, ...rooms]));
    ids.push(socket.id);
  }
  return ids;
}

export function removeSimulatedSockets(nsp: Namespace, prefix: string): number {
  let removed = 0;
  for (const id of [...nsp.sockets.keys()]) {
    if (!id.startsWith(prefix)) continue;
    nsp.adapter.delAll(id);
    nsp.sockets.delete(id);
    removed++;
  }
  return removed;
}
