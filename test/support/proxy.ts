/**
 * A TCP proxy between one server and Redis, to make partitions: `cut` closes the connections and
 * refuses new ones, `stall` is a black hole (nothing flows, nothing closes, new connections too).
 * Either can hit only the subscribing connection or only the publishing one: a connection is
 * known as a subscriber once it sends (S|P)SUBSCRIBE, as a publisher once it sends (S)PUBLISH or EVAL.
 */
import net from 'node:net';

export type Side = 'both' | 'sub' | 'pub';
type Kind = 'sub' | 'pub' | 'unknown';

interface Connection {
  client: net.Socket;
  upstream: net.Socket;
  kind: Kind;
  /** Bytes held while stalled, per direction, delivered on resume. */
  toRedis: Buffer[];
  toClient: Buffer[];
}

export interface RedisProxy {
  port: number;
  /** The Redis URL a server uses to go through the proxy. */
  url: string;
  /** Closes the connections of `side` and refuses (closes) new ones until heal(). */
  cut(side?: Side): void;
  /** Lets new connections through again. */
  heal(): void;
  /** Stops every byte of `side`'s connections (and of new ones), closing nothing, until resume(). */
  stall(side?: Side): void;
  /** Delivers what waited, and lets bytes flow again. */
  resume(): void;
  /** Connections open through the proxy now, by kind. */
  connections(): Record<Kind, number>;
  close(): Promise<void>;
}

const SUBSCRIBES = /\r\n(S|P)?SUBSCRIBE\r\n/i;
const PUBLISHES = /\r\n(S?PUBLISH|EVAL|EVALSHA)\r\n/i;

export async function startProxy(redisPort: number): Promise<RedisProxy> {
  const connections = new Set<Connection>();
  let cutSide: Side | undefined;
  let stallSide: Side | undefined;
  const hits = (side: Side | undefined, kind: Kind) => side === 'both' || (side !== undefined && side === kind);

  const drop = (connection: Connection) => {
    connection.client.destroy();
    connection.upstream.destroy();
    connections.delete(connection);
  };

  const forward = (connection: Connection, chunk: Buffer, toRedis: boolean) => {
    if (hits(stallSide, connection.kind)) {
      (toRedis ? connection.toRedis : connection.toClient).push(chunk);
      return;
    }
    (toRedis ? connection.upstream : connection.client).write(chunk);
  };

  const server = net.createServer((client) => {
    const upstream = net.connect({ port: redisPort, host: '127.0.0.1' });
    const connection: Connection = { client, upstream, kind: 'unknown', toRedis: [], toClient: [] };
    connections.add(connection);
    client.on('error', () => drop(connection));
    upstream.on('error', () => drop(connection));
    client.on('close', () => drop(connection));
    upstream.on('close', () => drop(connection));
    if (cutSide === 'both') return drop(connection);
    client.on('data', (chunk: Buffer) => {
      if (connection.kind === 'unknown') {
        const text = chunk.toString('latin1');
        if (SUBSCRIBES.test(text)) connection.kind = 'sub';
        else if (PUBLISHES.test(text)) connection.kind = 'pub';
        if (hits(cutSide, connection.kind)) return drop(connection);
      }
      forward(connection, chunk, true);
    });
    upstream.on('data', (chunk: Buffer) => forward(connection, chunk, false));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    cut(side = 'both') {
      cutSide = side;
      for (const connection of [...connections]) if (hits(side, connection.kind)) drop(connection);
    },
    heal() {
      cutSide = undefined;
    },
    stall(side = 'both') {
      stallSide = side;
    },
    resume() {
      stallSide = undefined;
      for (const connection of connections) {
        for (const chunk of connection.toRedis.splice(0)) connection.upstream.write(chunk);
        for (const chunk of connection.toClient.splice(0)) connection.client.write(chunk);
      }
    },
    connections() {
      const counts: Record<Kind, number> = { sub: 0, pub: 0, unknown: 0 };
      for (const { kind } of connections) counts[kind]++;
      return counts;
    },
    async close() {
      for (const connection of [...connections]) drop(connection);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
