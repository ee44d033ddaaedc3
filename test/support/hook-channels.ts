/** Watches the hook's own Redis request channel, to count the cluster messages an operation sends. */
import { createClient, createCluster } from 'redis';

export interface ChannelWatch {
  /** The requests seen so far, in order: who sent each, and its kind ('join', 'addMembers', 'roomsOf'…). */
  requests: Array<{ from: string; kind: string }>;
  close(): Promise<void>;
}

export async function watchRequests(redisUrl: string, mode: 'pubsub' | 'sharded' | 'cluster', key = 'socket.io'): Promise<ChannelWatch> {
  const client = mode === 'cluster' ? createCluster({ rootNodes: [{ url: redisUrl }] }) : createClient({ url: redisUrl });
  const sharded = mode !== 'pubsub';
  client.on('error', () => {});
  await client.connect();
  const requests: ChannelWatch['requests'] = [];
  const onMessage = (raw: string) => {
    // One PUBLISH carries one message (a JSON array), or an array of those a server sent in the
    // same tick. A request is [from, sentAt, 'q', id, reply, ttl, kind, ...].
    const parsed = JSON.parse(raw) as unknown[][] | unknown[];
    for (const message of (Array.isArray(parsed[0]) ? parsed : [parsed]) as unknown[][]) {
      if (message[2] === 'q') requests.push({ from: message[0] as string, kind: message[6] as string });
    }
  };
  const channel = `{${key}-rooms}#/#`;
  await (sharded ? client.sSubscribe(channel, onMessage) : client.subscribe(channel, onMessage));
  return { requests, close: () => client.close() };
}
