/**
 * Socket IDs that name their server: `<server's uid>.<socket.io's random ID>`. A by-ID operation
 * on a socket no request has touched yet then goes to that server's inbox alone, as a routed one
 * does (routes.ts), instead of asking every server: O(1) in the size of the cluster, at no cost
 * at connect time (no directory to write to Redis, nothing to clean up when a server dies).
 *
 * The prefix is a hint, never trusted: a socket resumed on another server (socket.io's connection
 * state recovery keeps its ID) or an ID made up by the app is found by asking every server, as
 * before, when the named server answers that it does not hold it.
 */
import type { Namespace, Socket } from 'socket.io';

const SEPARATOR = '.';

/** The server a socket ID names, if it names one (socket.io's own IDs have no '.'). */
export function serverNamedBy(socketId: string): string | undefined {
  const end = socketId.indexOf(SEPARATOR);
  return end > 0 ? socketId.slice(0, end) : undefined;
}

/** socket.io's factory of sockets (Namespace#_createSocket, socket.io ≥ 4.6): private, so looked for. */
type SocketFactory = (this: Namespace, ...args: unknown[]) => Socket | Promise<Socket>;

/**
 * Makes the sockets `nsp` creates from now on carry `uid` in their ID; returns what undoes it.
 * The ID is set before socket.io files the socket under it (Namespace#_add) and before it joins
 * its own room or tells the client. Where socket.io has no such factory, IDs stay as they are:
 * by-ID operations then work as before, asking every server the first time.
 */
export function stampSocketIds(nsp: Namespace, uid: string): () => void {
  const target = nsp as unknown as { _createSocket?: SocketFactory };
  const create = target._createSocket;
  if (typeof create !== 'function') return () => {};
  const ownBefore = Object.prototype.hasOwnProperty.call(target, '_createSocket');
  const stamp = (socket: Socket) => {
    // A recovered socket keeps the ID its client knows.
    if (!socket.recovered) (socket as { id: string }).id = `${uid}${SEPARATOR}${socket.id}`;
    return socket;
  };
  // As the factory it wraps: asynchronous in socket.io 4.8, perhaps not in another version.
  const stamped: SocketFactory = function stampedSocket(this: Namespace, ...args) {
    const created = create.apply(this, args);
    return created instanceof Promise ? created.then(stamp) : stamp(created);
  };
  target._createSocket = stamped;
  return () => {
    if (target._createSocket !== stamped) return;
    if (ownBefore) target._createSocket = create;
    else delete target._createSocket;
  };
}
