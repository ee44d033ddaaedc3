/**
 * Which server holds a socket: learned from the other servers' replies, or else the one its ID
 * names (socket-ids.ts). A request about sockets known to be on one server is sent to that server
 * alone, one about sockets on a few servers to each of them: the others (and the sender itself,
 * which receives what it broadcasts) are not woken for it.
 *
 * A route goes stale when its socket disconnects (or resumes on another server): the server it
 * names then answers that it does not hold the socket, and the request is sent to every server.
 */
import { serverNamedBy } from './socket-ids';

/** Routes kept at most; the least recently learned go first. */
export const MAX_ROUTES = 10_000;

export class SocketRoutes {
  private readonly serverOf = new Map<string, string>();

  constructor(private readonly maxRoutes = MAX_ROUTES) {}

  get size(): number {
    return this.serverOf.size;
  }

  learn(server: string, socketIds: readonly string[]): void {
    for (const id of socketIds) {
      // Deleted first so that the Map's order stays least recently learned first.
      this.serverOf.delete(id);
      this.serverOf.set(id, server);
      if (this.serverOf.size > this.maxRoutes) this.serverOf.delete(this.serverOf.keys().next().value!);
    }
  }

  /** The servers holding the sockets of `socketIds`, if each has a known one (a server once). */
  holdersOf(socketIds: readonly string[]): string[] | undefined {
    if (socketIds.length === 0) return undefined;
    const holders: string[] = [];
    for (const id of socketIds) {
      const server = this.serverOf.get(id) ?? serverNamedBy(id);
      if (server === undefined) return undefined;
      if (!holders.includes(server)) holders.push(server);
    }
    return holders;
  }

  forget(socketIds: Iterable<string>): void {
    for (const id of socketIds) this.serverOf.delete(id);
  }
}
