/** A clock the test moves by hand, for the transport's parts (lib/transport/redis/clock.ts). */
import type { Clock, Timer } from '../../lib/transport/redis/clock';

interface Scheduled {
  at: number;
  callback: () => void;
  everyMs?: number;
}

export class FakeClock implements Clock {
  private time = 0;
  private readonly wallOffset = 1_700_000_000_000;
  private readonly timers = new Set<Scheduled>();

  now(): number {
    return this.time;
  }

  wallNow(): number {
    return this.wallOffset + this.time;
  }

  setTimeout(callback: () => void, ms: number): Timer {
    return this.schedule({ at: this.time + Math.max(0, ms), callback });
  }

  setInterval(callback: () => void, ms: number): Timer {
    return this.schedule({ at: this.time + ms, callback, everyMs: ms });
  }

  /** Timers not cancelled yet. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, running every timer that falls due, in order. */
  advance(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      let next: Scheduled | undefined;
      for (const timer of this.timers) if (timer.at <= until && (!next || timer.at < next.at)) next = timer;
      if (!next) break;
      this.time = next.at;
      if (next.everyMs === undefined) this.timers.delete(next);
      else next.at += next.everyMs;
      next.callback();
    }
    this.time = until;
  }

  private schedule(timer: Scheduled): Timer {
    this.timers.add(timer);
    return { cancel: () => { this.timers.delete(timer); } };
  }
}
