/**
 * The other servers of the cluster as this one knows them: the members (when each was last heard,
 * their clock offsets) and the fenced ones, forgotten while cut off (docs/partitions.md). A member
 * silent for PEER_EXPIRY_MS is fenced through the registry; until then requests wait for it.
 */
import type { Clock } from './clock';
import { PeerClocks } from './peer-clocks';
import type { ServerRecord } from './registry';

export const HEARTBEAT_MS = 1000;
/** A member silent for this long is fenced (e.g. killed, or cut off from Redis). */
export const PEER_EXPIRY_MS = 3500;
/**
 * A server that has not heard its own heartbeat come back for this long may be cut off: it holds
 * what it receives and checks whether it was fenced. Shorter than the expiry, with a heartbeat to spare.
 */
export const DEAF_AFTER_MS = 2500;

/** A server became a member (`up`), or stopped being one: `fenced`, or `left` (lowered, or dropped from the record). */
export type PeerChange = (peer: string, change: 'up' | 'fenced' | 'left') => void;

export class Peers {
  readonly clocks = new PeerClocks();
  /** Members, and when each was last heard (clock.now()). */
  private readonly lastHeard = new Map<string, number>();
  /** Fenced servers, and when each was last heard (when it was fenced, if it never was). */
  private readonly fencedSince = new Map<string, number>();
  /** The members, one Set for every request sent while they do not change. */
  private liveSet: Set<string> | undefined;
  /** Hellos read so far, and when each server's last one was (in that count). */
  private hellos = 0;
  private readonly helloAt = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly expiryMs = PEER_EXPIRY_MS,
    /** Told when a server becomes a member, and when a member stops being one. */
    private readonly onChange: PeerChange = () => {},
  ) {}

  /** Members known. */
  get size(): number {
    return this.lastHeard.size;
  }

  fenced(): string[] {
    return [...this.fencedSince.keys()];
  }

  get fencedCount(): number {
    return this.fencedSince.size;
  }

  isMember(peer: string): boolean {
    return this.lastHeard.has(peer);
  }

  isFenced(peer: string): boolean {
    return this.fencedSince.has(peer);
  }

  /**
   * A message from `peer`. A fenced server is not heard, unless it `registered` again (it says
   * hello only then); returns whether it counts as a member.
   */
  heardFrom(peer: string, registered = false): boolean {
    if (registered) this.helloAt.set(peer, ++this.hellos);
    if (this.fencedSince.has(peer)) {
      if (!registered) return false;
      this.fencedSince.delete(peer);
    }
    const isNew = !this.lastHeard.has(peer);
    this.lastHeard.set(peer, this.clock.now());
    if (isNew) {
      this.liveSet = undefined;
      this.onChange(peer, 'up');
    }
    return true;
  }

  /** Hellos read so far: what the record said before one of them may be older than the hello. */
  helloClock(): number {
    return this.hellos;
  }

  /**
   * `peer` was fenced. Said by the record, asked at `since` (helloClock()): not if `peer` said
   * hello since (it registered after the record was read, and will not say it again). A notice
   * read in order with the messages needs no `since`.
   */
  markFenced(peer: string, since = Infinity): void {
    if ((this.helloAt.get(peer) ?? 0) > since) return;
    const heard = this.lastHeard.get(peer);
    this.clocks.forget(peer);
    if (!this.fencedSince.has(peer)) this.fencedSince.set(peer, heard ?? this.clock.now());
    if (heard === undefined) return;
    this.lastHeard.delete(peer);
    this.liveSet = undefined;
    this.onChange(peer, 'fenced');
  }

  /** It left the cluster (lowered, or dropped from the record). */
  forget(peer: string): void {
    if (this.lastHeard.delete(peer)) {
      this.liveSet = undefined;
      this.onChange(peer, 'left');
    }
    this.fencedSince.delete(peer);
    this.helloAt.delete(peer);
    this.clocks.forget(peer);
  }

  /** The members: requests wait for each of them. */
  live(): Set<string> {
    return this.liveSet ??= new Set(this.lastHeard.keys());
  }

  /** Every server known, and how long ago it was last heard. */
  describe(): Array<{ id: string; lastHeardMs: number; fenced: boolean }> {
    const now = this.clock.now();
    const members = [...this.lastHeard].map(([id, heard]) => ({ id, lastHeardMs: now - heard, fenced: false }));
    const fenced = [...this.fencedSince].map(([id, heard]) => ({ id, lastHeardMs: now - heard, fenced: true }));
    return [...members, ...fenced];
  }

  /** Members silent for longer than the expiry: to be fenced. */
  overdue(): string[] {
    const now = this.clock.now();
    const silent: string[] = [];
    for (const [peer, heard] of this.lastHeard) if (now - heard > this.expiryMs) silent.push(peer);
    return silent;
  }

  /**
   * Back after an outage of this server's own: the members known before were not silent, this
   * one was deaf. They get a full expiry period to be heard again before they are fenced.
   */
  heardFromEveryoneNow(): void {
    const now = this.clock.now();
    for (const peer of this.lastHeard.keys()) this.lastHeard.set(peer, now);
  }

  /**
   * Takes in what the registry said of the cluster when asked at `since` (helloClock(); `self`
   * left out): members not known yet are awaited from now on, fenced and lost ones are fenced here
   * too (unless they said hello since). Known members missing from it left, unless Redis lost the
   * record (`recordLost`), in which case they register again soon.
   */
  syncWith(servers: ReadonlyMap<string, ServerRecord>, self: string, recordLost: boolean, since: number): void {
    for (const [peer, { state }] of servers) {
      if (peer === self) continue;
      if (state === 'member') {
        // A fenced one that is a member again registered since: it came back.
        if (!this.lastHeard.has(peer)) this.heardFrom(peer, true);
      } else {
        this.markFenced(peer, since);
      }
    }
    if (recordLost) return;
    for (const peer of [...this.lastHeard.keys(), ...this.fencedSince.keys()]) if (!servers.has(peer)) this.forget(peer);
  }
}
