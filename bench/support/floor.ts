/**
 * The physical floor of a confirmed remote operation: a Redis round trip A → B → A over pub/sub,
 * between the same two server processes, with the clients sails-hook-rooms itself creates
 * (same library, same options). B echoes every ping on the pong channel; with several echoes
 * it is a fan-out round trip. An echo given a name also answers the pings sent to it alone; one
 * given `apply` also answers applying pings, doing that work before it echoes, as the pinger
 * does before it sends (the socket.io work of a room-to-room operation, say).
 */
import { now } from './clock';

// The compiled hook: `npm run bench` builds it first.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createClientsFromUrl } = require('../../dist/transport/redis/clients');

const PING = 'bench-floor#ping';
const PONG = 'bench-floor#pong';
const APPLYING = `${PING}#apply`;

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
export async function startEcho(url: string, { parse = false, name, apply }: { parse?: boolean; name?: string; apply?: () => void } = {}): Promise<() => Promise<void>> {
  const { pub, sub } = await connectedPair(url);
  const echo = parse
    ? (message: string) => { void pub.publish(PONG, JSON.stringify(JSON.parse(message))); }
    : (message: string) => { void pub.publish(PONG, message); };
  await sub.subscribe(PING, echo);
  if (name !== undefined) await sub.subscribe(`${PING}#${name}`, echo);
  if (apply !== undefined) await sub.subscribe(APPLYING, (message) => { apply(); echo(message); });
  return async () => { await Promise.all([pub.close(), sub.close()]); };
}

/** A ping the size of a by-ID request (wire.ts), unique by its sequence number. */
function pingMessage(sequence: number): string {
  return `["Xy3dEf6hIj9lMn2p",${Date.now()},"q",${sequence},1,5000,"leave",["Kq7sUv0xYz4bCd8f.Ab3dEf6hIj9lMn2pQr5t"],["room-1"]]`;
}

/**
 * On A: `ping()` resolves with the round-trip time in ms, once `replies` echoes answered (a
 * fan-out when more than one); `ping(name)`, once the echo of that name answered;
 * `pingApplying(apply)` runs `apply` then pings the echoes that apply too.
 */
export async function startPinger(url: string, replies = 1): Promise<{
  ping(echo?: string): Promise<number>; pingApplying(apply: () => void): Promise<number>; close(): Promise<void>;
}> {
  const { pub, sub } = await connectedPair(url);
  const waiting = new Map<string, () => void>();
  await sub.subscribe(PONG, (message) => { waiting.get(message)?.(); });
  let sequence = 0;
  const roundTrip = (channel: string, answers: number, apply?: () => void) => {
    const key = pingMessage(++sequence);
    const start = now();
    apply?.();
    let missing = answers;
    return new Promise<number>((resolve) => {
      waiting.set(key, () => {
        if (--missing > 0) return;
        waiting.delete(key);
        resolve(now() - start);
      });
      void pub.publish(channel, key);
    });
  };
  return {
    ping: (echo) => (echo === undefined ? roundTrip(PING, replies) : roundTrip(`${PING}#${echo}`, 1)),
    pingApplying: (apply) => roundTrip(APPLYING, replies, apply),
    close: async () => { await Promise.all([pub.close(), sub.close()]); },
  };
}
