/**
 * The other servers of the cluster as this one knows them: when each was last heard from, and
 * their clock offsets. A server silent for PEER_EXPIRY_MS is taken for gone.
 */
import type { Clock } from './clock';
import { PeerClocks } from './peer-clocks';

export const HEARTBEAT_MS = 1000;
/** A server silent for this long is taken for gone (e.g. killed). */
export const PEER_EXPIRY_MS = 3500;

export class Peers {
  readonly clocks = new PeerClocks();
  private readonly lastHeard = new Map<string, number>();
  /** The servers known to be up, one Set for every request sent while they do not change. */
  private liveSet: Set<string> | undefined;

  constructor(private readonly clock: Clock, private readonly expiryMs = PEER_EXPIRY_MS) {}

  get size(): number {
    return this.lastHeard.size;
  }

  heardFrom(peer: string): void {
    if (!this.lastHeard.has(peer)) this.liveSet = undefined;
    this.lastHeard.set(peer, this.clock.now());
  }

  forget(peer: string): void {
    this.lastHeard.delete(peer);
    this.clocks.forget(peer);
    this.liveSet = undefined;
  }

  isLive(peer: string): boolean {
    return this.clock.now() - (this.lastHeard.get(peer) ?? -Infinity) <= this.expiryMs;
  }

  /** The servers heard from within the expiry; the others are forgotten. */
  live(): Set<string> {
    const now = this.clock.now();
    for (const [peer, heard] of this.lastHeard) if (now - heard > this.expiryMs) this.forget(peer);
    return this.liveSet ??= new Set(this.lastHeard.keys());
  }

  /**
   * Back after an outage of this server's own: the servers known before were not silent, this one
   * was deaf. They get a full expiry period to be heard again before they are taken for gone.
   */
  heardFromEveryoneNow(): void {
    const now = this.clock.now();
    for (const peer of this.lastHeard.keys()) this.lastHeard.set(peer, now);
  }
}
