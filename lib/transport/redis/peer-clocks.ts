/**
 * How late a message from another server arrives, measured on this server's clock although the
 * servers' clocks differ: the smallest (arrival − sending) time seen recently from a server stands
 * for its clock offset plus the fastest transit; a message's delay is its own (arrival − sending)
 * minus that. Heartbeats keep the estimate fresh.
 */
export class PeerClocks {
  private readonly baselines = new Map<string, { current: number; previous: number; since: number }>();

  /** Baselines older than `windowMs` give way, so a clock that is adjusted is followed. */
  constructor(private readonly windowMs = 30_000) {}

  /** Records a message `from` a server, stamped `sentAt` on its clock and arriving `now`; returns its delay in ms. */
  delayOf(from: string, sentAt: number, now = Date.now()): number {
    const observed = now - sentAt;
    const baseline = this.baselines.get(from);
    if (!baseline) {
      this.baselines.set(from, { current: observed, previous: observed, since: now });
      return 0;
    }
    if (now - baseline.since > this.windowMs) {
      baseline.previous = baseline.current;
      baseline.current = observed;
      baseline.since = now;
    } else {
      baseline.current = Math.min(baseline.current, observed);
    }
    return Math.max(0, observed - Math.min(baseline.current, baseline.previous));
  }

  forget(from: string): void {
    this.baselines.delete(from);
  }
}
