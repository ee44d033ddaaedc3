/** Counts the pub/sub messages published on a Redis server, as a subscriber to every channel sees them. */
import { createClient } from 'redis';

/**
 * A presence message, as lib/transport/redis/wire.ts encodes it: [from, sentAt, "beat", protocol]
 * (protocol 1 had no protocol field). Heartbeats are not part of any operation.
 */
export const PRESENCE = /^\["[^"]+",\d+,"(hello|up|beat|bye)"(,\d+)?\]$/;
/** Anything but a presence message: to count the presence messages alone. */
export const NOT_PRESENCE = new RegExp(`^(?!${PRESENCE.source.slice(1)})`);

export interface MessageCounter {
  /** Messages since the last reset, those `ignore` matches left out. */
  readonly count: number;
  reset(): void;
  close(): Promise<void>;
}

export async function countMessages(url: string, ignore: RegExp): Promise<MessageCounter> {
  const client = createClient({ url });
  client.on('error', () => {});
  await client.connect();
  let count = 0;
  await client.pSubscribe('*', (message: string) => {
    if (!ignore.test(message)) count++;
  });
  return {
    get count() { return count; },
    reset() { count = 0; },
    close: () => client.close(),
  };
}
