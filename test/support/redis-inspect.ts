/** What a TestRedis server says about its connections and subscriptions. */
import type { TestRedis } from './redis';

/** Connections open on the server, the one that asks included. */
export async function connectionCount(redis: TestRedis): Promise<number> {
  const list = await redis.command<string>('CLIENT', 'LIST');
  return list.trim().split('\n').filter(Boolean).length;
}

/** Connections subscribed to `channel` (PUBSUB NUMSUB). */
export async function subscriberCount(redis: TestRedis, channel: string): Promise<number> {
  const reply = await redis.command<Array<string | number>>('PUBSUB', 'NUMSUB', channel);
  return Number(reply[1]);
}

/** Channels with at least one subscriber whose name matches the glob `pattern` (PUBSUB CHANNELS), sorted. */
export async function activeChannels(redis: TestRedis, pattern = '*'): Promise<string[]> {
  return (await redis.command<string[]>('PUBSUB', 'CHANNELS', pattern)).sort();
}

/** Pattern subscriptions on the whole server (PUBSUB NUMPAT). */
export async function patternCount(redis: TestRedis): Promise<number> {
  return Number(await redis.command<number>('PUBSUB', 'NUMPAT'));
}
