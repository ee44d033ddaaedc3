/**
 * Publishing with coalescing: the messages sent on one channel in the same tick leave in one
 * PUBLISH, as a JSON array of them (at most MAX_BATCH each). Many operations in flight then cost
 * a few Redis commands and a few wake-ups of each receiver, instead of one each.
 */

/** Messages per PUBLISH at most: a receiver handles one PUBLISH in one go. */
export const MAX_BATCH = 500;

type Publish = (channel: string, payload: string) => Promise<number>;

interface Batch {
  messages: string[];
  /** Settles with the PUBLISH: the number of subscribers that received it. */
  sent: Promise<number>;
  resolve(receivers: number): void;
  reject(err: unknown): void;
}

function newBatch(): Batch {
  let resolve!: Batch['resolve'];
  let reject!: Batch['reject'];
  const sent = new Promise<number>((res, rej) => { resolve = res; reject = rej; });
  return { messages: [], sent, resolve, reject };
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

/**
 * `send(channel, message)` queues a JSON message and resolves once the PUBLISH that carries it
 * is done; queued messages leave together on the next tick, in the order they were sent.
 */
export function createOutbox(publish: Publish): (channel: string, message: string) => Promise<number> {
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
        sent.then(batch.resolve, batch.reject);
      }
    }
    queued.clear();
  };

  return (channel, message) => {
    if (queued.size === 0) process.nextTick(flush);
    let batches = queued.get(channel);
    if (!batches) queued.set(channel, batches = []);
    let batch = batches[batches.length - 1];
    if (!batch || batch.messages.length === MAX_BATCH) batches.push(batch = newBatch());
    batch.messages.push(message);
    return batch.sent;
  };
}
