/**
 * The physical floor of a confirmed remote operation: a Redis round trip A → B → A over pub/sub,
 * between the same two server processes, with the clients sails-hook-rooms itself creates
 * (same library, same options). B echoes every ping on the pong channel; with several echoes
 * it is a fan-out round trip.
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

/**
 * On B: answers every ping. With `parse`, as a server handles a request: the message is parsed
 * and encoded again before it is sent back (a ping carries a message of a request's size).
 */
export async function startEcho(url: string, { parse = false }: { parse?: boolean } = {}): Promise<() => Promise<void>> {
  const { pub, sub } = await connectedPair(url);
  await sub.subscribe(PING, parse
    ? (message) => { void pub.publish(PONG, JSON.stringify(JSON.parse(message))); }
    : (message) => { void pub.publish(PONG, message); });
  return async () => { await Promise.all([pub.close(), sub.close()]); };
}

/** A ping the size of a by-ID request (wire.ts), unique by its sequence number. */
function pingMessage(sequence: number): string {
  return `["00000000-0000-4000-8000-000000000000",${Date.now()},"q",${sequence},1,5000,"leave",["Ab3dEf6hIj9lMn2pQr5t"],["room-1"]]`;
}

/** On A: `ping()` resolves with the round-trip time in ms, once `replies` echoes answered (a fan-out when more than one). */
export async function startPinger(url: string, replies = 1): Promise<{ ping(): Promise<number>; close(): Promise<void> }> {
  const { pub, sub } = await connectedPair(url);
  const waiting = new Map<string, () => void>();
  await sub.subscribe(PONG, (message) => { waiting.get(message)?.(); });
  let sequence = 0;
  return {
    ping() {
      const key = pingMessage(++sequence);
      const start = now();
      let missing = replies;
      return new Promise<number>((resolve) => {
        waiting.set(key, () => {
          if (--missing > 0) return;
          waiting.delete(key);
          resolve(now() - start);
        });
        void pub.publish(PING, key);
      });
    },
    close: async () => { await Promise.all([pub.close(), sub.close()]); },
  };
}
