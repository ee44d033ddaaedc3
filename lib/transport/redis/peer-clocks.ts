/**
 * How late a message from another server arrives, measured on this server's clock although the
 * servers' clocks differ: the smallest (arrival − sending) time seen recently from a server stands
 * for its clock offset plus the fastest transit; a message's delay is its own (arrival − sending)
 * minus that. Heartbeats keep the estimate fresh.
 *
 * A clock set back (or a VM's clock that did not show a pause) makes every later message look
 * late; a stall makes the messages that waited arrive late, in a burst. Heartbeats tell them
 * apart: several in a row, each a heartbeat's time after the last, all showing the later offset,
 * are a clock step, and the estimate takes it at once instead of after the window.
 */

/** Heartbeats in a row that make a clock step. */
const STEP_BEATS = 3;
/** Closer than this after the previous one, a heartbeat is part of a burst (messages that waited). */
const MIN_BEAT_GAP_MS = 500;
/** Later than the estimate by more than this, a heartbeat shows another offset. */
const STEP_MS = 200;

interface Baseline {
  current: number;
  previous: number;
  since: number;
  /** The last heartbeats that arrived a heartbeat apart: when, and their (arrival − sending). */
  beats: Array<{ at: number; observed: number }>;
}

export class PeerClocks {
  private readonly baselines = new Map<string, Baseline>();

  /** Baselines older than `windowMs` give way, so a clock that is adjusted is followed. */
  constructor(private readonly windowMs = 30_000) {}

  /** Records a message `from` a server, stamped `sentAt` on its clock and arriving `now`; returns its delay in ms. */
  delayOf(from: string, sentAt: number, now = Date.now()): number {
    const observed = now - sentAt;
    const baseline = this.baselines.get(from);
    if (!baseline) {
      this.baselines.set(from, { current: observed, previous: observed, since: now, beats: [] });
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

  /** {@link delayOf} for a heartbeat, which also tells a clock step from a stall. */
  heartbeat(from: string, sentAt: number, now = Date.now()): number {
    const delay = this.delayOf(from, sentAt, now);
    const baseline = this.baselines.get(from)!;
    const last = baseline.beats[baseline.beats.length - 1];
    if (last && now - last.at < MIN_BEAT_GAP_MS) baseline.beats = [];
    baseline.beats.push({ at: now, observed: now - sentAt });
    if (baseline.beats.length > STEP_BEATS) baseline.beats.shift();
    const estimate = Math.min(baseline.current, baseline.previous);
    if (baseline.beats.length === STEP_BEATS && baseline.beats.every(({ observed }) => observed - estimate > STEP_MS)) {
      baseline.current = baseline.previous = Math.min(...baseline.beats.map(({ observed }) => observed));
      baseline.since = now;
      return 0;
    }
    return delay;
  }

  forget(from: string): void {
    this.baselines.delete(from);
  }
}
