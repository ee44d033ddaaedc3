/**
 * Which server holds a socket, learned from the other servers' replies. A request about sockets
 * known to be on one server is sent to that server alone: the others (and the sender itself,
 * which receives what it broadcasts) are not woken for it.
 *
 * A route goes stale when its socket disconnects (or resumes on another server): the server it
 * names then answers that it does not hold the socket, and the request is sent to every server.
 */

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

  /** The one server known to hold every socket of `socketIds`, if there is one. */
  holderOf(socketIds: readonly string[]): string | undefined {
    let holder: string | undefined;
    for (const id of socketIds) {
      const server = this.serverOf.get(id);
      if (server === undefined || (holder !== undefined && server !== holder)) return undefined;
      holder = server;
    }
    return holder;
  }

  forget(socketIds: Iterable<string>): void {
    for (const id of socketIds) this.serverOf.delete(id);
  }
}
