/** Watches the hook's own Redis request channel, to count the cluster messages an operation sends. */
import { createClient, createCluster } from 'redis';

export interface ChannelWatch {
  /** The requests seen so far, in order. */
  requests: Array<{ from: string; request: { kind: string; change?: { type: string } } }>;
  close(): Promise<void>;
}

export async function watchRequests(redisUrl: string, mode: 'pubsub' | 'sharded' | 'cluster', key = 'socket.io'): Promise<ChannelWatch> {
  const client = mode === 'cluster' ? createCluster({ rootNodes: [{ url: redisUrl }] }) : createClient({ url: redisUrl });
  const sharded = mode !== 'pubsub';
  client.on('error', () => {});
  await client.connect();
  const requests: ChannelWatch['requests'] = [];
  const onMessage = (raw: string) => {
    // One PUBLISH carries one message, or an array of those a server sent in the same tick.
    for (const message of [JSON.parse(raw)].flat()) if (message.t === 'request') requests.push(message);
  };
  const channel = `${key}-rooms#/#`;
  await (sharded ? client.sSubscribe(channel, onMessage) : client.subscribe(channel, onMessage));
  return { requests, close: () => client.close() };
}
