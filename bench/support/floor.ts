/**
 * The physical floor of a confirmed remote operation: a Redis round trip A → B → A over pub/sub,
 * between the same two server processes, with the clients sails-hook-rooms itself creates
 * (same library, same options). B echoes every ping on the pong channel.
 */
import { now } from './clock';

// The compiled hook: `npm run bench` builds it first.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createClientsFromUrl } = require('../../dist/transport/redis/clients');

const PING = 'bench-floor#ping';
const PONG = 'bench-floor#pong';

type Client = { connect(): Promise<unknown>; publish(channel: string, message: string): Promise<number>; subscribe(channel: string, listener: (message: string) => void): Promise<void>; close(): Promise<void> };

async function connectedPair(url: string): Promise<{ pub: Client; sub: Client }> {
  const { pub, sub } = createClientsFromUrl(url) as { pub: Client; sub: Client };
  await Promise.all([pub.connect(), sub.connect()]);
  return { pub, sub };
}

/** On B: answers every ping. */
export async function startEcho(url: string): Promise<() => Promise<void>> {
  const { pub, sub } = await connectedPair(url);
  await sub.subscribe(PING, (message) => { void pub.publish(PONG, message); });
  return async () => { await Promise.all([pub.close(), sub.close()]); };
}

/** On A: `ping()` resolves with the round-trip time in ms. */
export async function startPinger(url: string): Promise<{ ping(): Promise<number>; close(): Promise<void> }> {
  const { pub, sub } = await connectedPair(url);
  const waiting = new Map<string, () => void>();
  await sub.subscribe(PONG, (message) => { waiting.get(message)?.(); });
  let sequence = 0;
  return {
    ping() {
      const key = String(++sequence);
      const start = now();
      return new Promise<number>((resolve) => {
        waiting.set(key, () => { waiting.delete(key); resolve(now() - start); });
        void pub.publish(PING, key);
      });
    },
    close: async () => { await Promise.all([pub.close(), sub.close()]); },
  };
}
