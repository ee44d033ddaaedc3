/**
 * Work gathered during one turn of the event loop and done in one go: at the end of the tick,
 * or, when it was gathered while an incoming message was handled, as soon as that handler
 * returns (a reply or a callback need not wait for the tick to end). The callbacks due
 * (completion.ts) and the messages to publish (transport/redis/outbox.ts) are gathered so.
 */
export interface TickBatch {
  /** Something was queued: a flush follows, at the end of the tick or of the handler. */
  queued(): void;
  /** Runs `work(arg)`, then flushes what it and the tick before it queued. */
  around<T>(work: (arg: T) => void, arg: T): void;
}

function rethrow(err: unknown): never {
  throw err;
}

/** `flush` takes everything queued; it may find nothing (a handler flushed it already). */
export function createTickBatch(flush: () => void): TickBatch {
  let scheduled = false;
  let handling = 0;
  const flushAtTickEnd = () => {
    scheduled = false;
    flush();
  };
  return {
    queued() {
      if (scheduled || handling > 0) return;
      scheduled = true;
      process.nextTick(flushAtTickEnd);
    },
    around(work, arg) {
      handling++;
      try {
        work(arg);
      } finally {
        if (--handling === 0) {
          try {
            flush();
          } catch (err) {
            // Not the handler's error (e.g. an app's callback threw): it surfaces as from process.nextTick.
            process.nextTick(rethrow, err);
          }
        }
      }
    },
  };
}
