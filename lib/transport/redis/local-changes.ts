/**
 * The changes this server made to its own sockets' rooms since it last had proof that the cluster
 * heard it: its own heartbeat came back through Redis. If it was fenced meanwhile, the others
 * could not know of these changes, and a catch-up must not undo them (catch-up.ts).
 *
 * Recorded at the adapter (every join and leave of a local socket, whoever asked), except changes
 * other servers asked for and the catch-up itself, which run inside quietly(). Kept per heartbeat
 * sent: when beat k comes back, what was recorded before beat k left is dropped.
 */
import type { Namespace } from 'socket.io';

/** (socket, room) pairs recorded at most; past that a catch-up cannot tell, and takes the last resort. */
export const MAX_LOCAL_CHANGES = 1_000_000;

interface Generation {
  /** The heartbeat it started with (its sentAt). */
  beat: number;
  /** Socket ID to the rooms it joined or left. */
  touched: Map<string, Set<string>>;
}

export class LocalChanges {
  private generations: Generation[] = [{ beat: -Infinity, touched: new Map() }];
  private quiet = 0;
  private recorded = 0;

  /** More changes were made than could be recorded since the last proof. */
  get overflowed(): boolean {
    return this.recorded > MAX_LOCAL_CHANGES;
  }

  /** Records that `socketId` joined or left `room` here. */
  touch(socketId: string, room: string): void {
    if (this.quiet > 0) return;
    const { touched } = this.generations[this.generations.length - 1]!;
    const rooms = touched.get(socketId);
    if (!rooms) touched.set(socketId, new Set([room]));
    else if (!rooms.has(room)) rooms.add(room);
    else return;
    this.recorded++;
  }

  /** Whether `socketId` joined or left `room` here since the last proof. */
  touched(socketId: string, room: string): boolean {
    return this.generations.some(({ touched }) => touched.get(socketId)?.has(room) === true);
  }

  /** Whether `socketId` joined or left any room here since the last proof. */
  touchedSocket(socketId: string): boolean {
    return this.generations.some(({ touched }) => touched.has(socketId));
  }

  /** Runs `work` without recording what it changes: requests of other servers, the catch-up. */
  quietly<T>(work: () => T): T {
    this.quiet++;
    try {
      return work();
    } finally {
      this.quiet--;
    }
  }

  /** A heartbeat stamped `beat` leaves: changes from now on are recorded with it. */
  beatSent(beat: number): void {
    this.generations.push({ beat, touched: new Map() });
  }

  /** The heartbeat stamped `beat` came back: what was recorded before it left happened while the cluster heard this server. */
  beatEchoed(beat: number): void {
    const keepFrom = this.generations.findIndex((generation) => generation.beat >= beat);
    if (keepFrom <= 0) return;
    for (const { touched } of this.generations.slice(0, keepFrom)) for (const rooms of touched.values()) this.recorded -= rooms.size;
    this.generations = this.generations.slice(keepFrom);
  }

  clear(): void {
    this.generations = [{ beat: -Infinity, touched: new Map() }];
    this.recorded = 0;
  }

  /** Records every join and leave of `nsp`'s sockets, at its adapter; returns how to stop. */
  watch(nsp: Namespace): () => void {
    const adapter = nsp.adapter as unknown as Record<'addAll' | 'del', (...args: any[]) => unknown>;
    const { addAll, del } = adapter;
    adapter.addAll = (id: string, rooms: Set<string>) => {
      for (const room of rooms) this.touch(id, room);
      return addAll.call(nsp.adapter, id, rooms);
    };
    adapter.del = (id: string, room: string) => {
      this.touch(id, room);
      return del.call(nsp.adapter, id, room);
    };
    return () => {
      // Own properties: deleting them gives the adapter its own methods back.
      delete (adapter as Partial<typeof adapter>).addAll;
      delete (adapter as Partial<typeof adapter>).del;
    };
  }
}
