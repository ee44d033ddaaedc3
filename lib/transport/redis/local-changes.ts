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
  /** Socket ID, room, socket ID, room, …: appended on every join and leave, read only by a catch-up. */
  pairs: string[];
}

export class LocalChanges {
  private generations: Generation[] = [{ beat: -Infinity, pairs: [] }];
  /** Where joins and leaves are appended now (the last generation's pairs). */
  private current = this.generations[0]!.pairs;
  private quiet = 0;
  /** The pairs as a look-up, built when a catch-up first asks. */
  private index: Map<string, Set<string>> | undefined;

  /** More changes were made than could be recorded since the last proof. */
  get overflowed(): boolean {
    return this.generations.reduce((sum, { pairs }) => sum + pairs.length / 2, 0) > MAX_LOCAL_CHANGES;
  }

  /** Records that `socketId` joined or left `room` here. */
  touch(socketId: string, room: string): void {
    if (this.quiet > 0) return;
    this.current.push(socketId, room);
    this.index = undefined;
  }

  /** Whether `socketId` joined or left `room` here since the last proof. */
  touched(socketId: string, room: string): boolean {
    return this.lookUp().get(socketId)?.has(room) === true;
  }

  /** Whether `socketId` joined or left any room here since the last proof. */
  touchedSocket(socketId: string): boolean {
    return this.lookUp().has(socketId);
  }

  /** Runs `work` without recording what it changes: the catch-up. */
  quietly<T>(work: () => T): T {
    this.mute();
    try {
      return work();
    } finally {
      this.unmute();
    }
  }

  /** From now until unmute(), changes are not recorded (other servers' requests: no closure per request). */
  mute(): void {
    this.quiet++;
  }

  unmute(): void {
    this.quiet--;
  }

  /** A heartbeat stamped `beat` leaves: changes from now on are recorded with it. */
  beatSent(beat: number): void {
    this.current = [];
    this.generations.push({ beat, pairs: this.current });
  }

  /**
   * The heartbeat stamped `beat` came back: what was recorded before it left happened while the
   * cluster heard this server. Only generations that ended before it are dropped (a probe or a beat
   * sent while holding opens none, and the changes of the generation it fell in stay).
   */
  beatEchoed(beat: number): void {
    let keepFrom = 0;
    while (keepFrom + 1 < this.generations.length && this.generations[keepFrom + 1]!.beat <= beat) keepFrom++;
    if (keepFrom === 0) return;
    this.generations = this.generations.slice(keepFrom);
    this.index = undefined;
  }

  /** Forgets everything (the last resort: the sockets are gone); `since`: when this starts. */
  clear(since = -Infinity): void {
    this.current = [];
    this.generations = [{ beat: since, pairs: this.current }];
    this.index = undefined;
  }

  /**
   * Records every join and leave of `nsp`'s sockets, at its adapter (so whoever makes them); returns
   * how to stop. Each costs an append (bench case 1 runs through it: docs/partitions.md).
   */
  watch(nsp: Namespace): () => void {
    const adapter = nsp.adapter as unknown as Record<'addAll' | 'del', (...args: any[]) => unknown>;
    const { addAll, del } = adapter;
    adapter.addAll = (id: string, rooms: Set<string>) => {
      if (this.quiet === 0) {
        for (const room of rooms) this.current.push(id, room);
        this.index = undefined;
      }
      return addAll.call(nsp.adapter, id, rooms);
    };
    adapter.del = (id: string, room: string) => {
      if (this.quiet === 0) {
        this.current.push(id, room);
        this.index = undefined;
      }
      return del.call(nsp.adapter, id, room);
    };
    return () => {
      // Own properties: deleting them gives the adapter its own methods back.
      delete (adapter as Partial<typeof adapter>).addAll;
      delete (adapter as Partial<typeof adapter>).del;
    };
  }

  private lookUp(): Map<string, Set<string>> {
    if (this.index) return this.index;
    const index = new Map<string, Set<string>>();
    for (const { pairs } of this.generations) {
      for (let i = 0; i < pairs.length; i += 2) {
        const rooms = index.get(pairs[i]!);
        if (rooms) rooms.add(pairs[i + 1]!);
        else index.set(pairs[i]!, new Set([pairs[i + 1]!]));
      }
    }
    return this.index = index;
  }
}
