/**
 * Publishing with coalescing: the messages sent on one channel in the same tick leave in one
 * PUBLISH, as a JSON array of them (at most MAX_BATCH each). Many operations in flight then cost
 * a few Redis commands and a few wake-ups of each receiver, instead of one each.
 */

/** Messages per PUBLISH at most: a receiver handles one PUBLISH in one go. */
export const MAX_BATCH = 500;

/** Told how the PUBLISH carrying a message went: how many subscribers received it, or why it failed. */
export type Sent = (err: unknown, receivers?: number) => void;

type Publish = (channel: string, payload: string) => Promise<number>;

interface Batch {
  messages: string[];
  /** Not one per message: only the senders that want to know. */
  onSent: Sent[];
}

/** What a PUBLISH carries: one message as it is, several as a JSON array. */
function payloadOf(messages: string[]): string {
  return messages.length === 1 ? messages[0]! : `[${messages.join(',')}]`;
}

/** The messages of one PUBLISH, however many it carries; none if it is not JSON. */
export function unpack<T>(payload: string): T[] {
  try {
    const parsed = JSON.parse(payload) as T | T[];
    return Array.isArray(parsed) ? parsed : [parsed];
  } catch {
    return [];
  }
}

function published(batch: Batch, sent: Promise<number>): void {
  if (batch.onSent.length === 0) {
    sent.catch(() => {});
    return;
  }
  sent.then(
    (receivers) => { for (const onSent of batch.onSent) onSent(null, receivers); },
    (err: unknown) => { for (const onSent of batch.onSent) onSent(err); },
  );
}

/**
 * `send(channel, message, onSent?)` queues a JSON message; queued messages leave together on the
 * next tick, in the order they were sent. A failed PUBLISH is reported to `onSent` only.
 */
export function createOutbox(publish: Publish): (channel: string, message: string, onSent?: Sent) => void {
  const queued = new Map<string, Batch[]>();

  const flush = () => {
    for (const [channel, batches] of queued) {
      for (const batch of batches) {
        let sent: Promise<number>;
        try {
          sent = publish(channel, payloadOf(batch.messages));
        } catch (err) {
          sent = Promise.reject(err);
        }
        published(batch, sent);
      }
    }
    queued.clear();
  };

  return (channel, message, onSent) => {
    if (queued.size === 0) process.nextTick(flush);
    let batches = queued.get(channel);
    if (!batches) queued.set(channel, batches = []);
    let batch = batches[batches.length - 1];
    if (!batch || batch.messages.length === MAX_BATCH) batches.push(batch = { messages: [], onSent: [] });
    batch.messages.push(message);
    if (onSent) batch.onSent.push(onSent);
  };
}
