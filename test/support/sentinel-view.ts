/**
 * One client's way to a Sentinel deployment through proxies, so that a partition can cut that
 * client alone from the sentinels and from Redis: each Redis node and each sentinel gets a proxy,
 * and the sentinels' proxies translate the addresses the sentinels give (the primary's, the other
 * sentinels') into those of the proxies, as a NAT between the client and the deployment would have
 * them announced. Everything else passes through as it is (+switch-master included), in RESP2
 * (ioredis) or RESP3 (node-redis).
 */
import net from 'node:net';
import { startProxy, type RedisProxy } from './proxy';
import type { SentinelNode, TestSentinels } from './sentinel';

export interface SentinelView {
  /** The sentinels' proxies, as `sails.config.rooms.sentinel.nodes` takes them. */
  nodes: SentinelNode[];
  /** Closes every connection through the view and refuses new ones until heal(). */
  cut(): void;
  heal(): void;
  close(): Promise<void>;
}

/** A RESP2 or RESP3 value (ioredis speaks RESP2, node-redis RESP3). A map's items are its keys and values in turn. */
type Resp =
  | { kind: 'line'; type: string; text: string }
  | { kind: 'blob'; type: string; value: Buffer | null }
  | { kind: 'aggregate'; type: string; items: Resp[] | null };

const CRLF = '\r\n';
/** Simple string, error, integer; RESP3's null, boolean, double, big number. */
const LINE_TYPES = '+-:_#,(';
/** Bulk string; RESP3's verbatim string and bulk error. */
const BLOB_TYPES = '$=!';
/** Array; RESP3's set, push and map. */
const AGGREGATE_TYPES = '*~>%';

/** One value of `buffer` from `offset`, and where it ends; undefined while it has not all arrived. */
function parseResp(buffer: Buffer, offset: number): { value: Resp; end: number } | undefined {
  const lineEnd = buffer.indexOf(CRLF, offset);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buffer[offset]!);
  const line = buffer.toString('latin1', offset + 1, lineEnd);
  const next = lineEnd + 2;
  if (LINE_TYPES.includes(type)) return { value: { kind: 'line', type, text: line }, end: next };
  const length = Number(line);
  if (BLOB_TYPES.includes(type)) {
    if (length < 0) return { value: { kind: 'blob', type, value: null }, end: next };
    if (buffer.length < next + length + 2) return undefined;
    return { value: { kind: 'blob', type, value: buffer.subarray(next, next + length) }, end: next + length + 2 };
  }
  if (!AGGREGATE_TYPES.includes(type)) throw new Error(`not RESP (type byte ${JSON.stringify(type)})`);
  if (length < 0) return { value: { kind: 'aggregate', type, items: null }, end: next };
  const items: Resp[] = [];
  let end = next;
  for (let i = 0; i < (type === '%' ? 2 * length : length); i += 1) {
    const item = parseResp(buffer, end);
    if (!item) return undefined;
    items.push(item.value);
    end = item.end;
  }
  return { value: { kind: 'aggregate', type, items }, end };
}

function encodeResp(value: Resp): Buffer {
  switch (value.kind) {
    case 'line': return Buffer.from(`${value.type}${value.text}${CRLF}`, 'latin1');
    case 'blob': return value.value === null
      ? Buffer.from(`${value.type}-1${CRLF}`)
      : Buffer.concat([Buffer.from(`${value.type}${value.value.length}${CRLF}`), value.value, Buffer.from(CRLF)]);
    case 'aggregate': return value.items === null
      ? Buffer.from(`${value.type}-1${CRLF}`)
      : Buffer.concat([Buffer.from(`${value.type}${value.type === '%' ? value.items.length / 2 : value.items.length}${CRLF}`), ...value.items.map(encodeResp)]);
  }
}

const text = (value: Resp | undefined): string | undefined => (value?.kind === 'blob' && value.value ? value.value.toString() : undefined);
const bulk = (s: string): Resp => ({ kind: 'blob', type: '$', value: Buffer.from(s) });

/** What a command asks, as far as the translation cares; 'subscribe': from its reply on, the connection only passes through. */
type Asked = 'primary' | 'sentinels' | 'subscribe' | 'other';

function askedBy(command: Resp): Asked {
  if (command.kind !== 'aggregate' || !command.items) return 'other';
  const [name, sub] = command.items.map((item) => text(item)?.toLowerCase());
  if (name === 'subscribe' || name === 'psubscribe') return 'subscribe';
  if (name !== 'sentinel') return 'other';
  if (sub === 'get-master-addr-by-name') return 'primary';
  return sub === 'sentinels' ? 'sentinels' : 'other';
}

interface Translation {
  /** 'host:port' of a Redis node → its proxy's port. */
  redis: Map<string, number>;
  /** 'host:port' of a sentinel → its proxy's port. */
  sentinels: Map<string, number>;
}

/** SENTINEL GET-MASTER-ADDR-BY-NAME's [host, port], as the proxy of that node; an error for a node without one. */
function translatePrimary(reply: Resp, translation: Translation): Resp {
  if (reply.kind !== 'aggregate' || !reply.items || reply.items.length !== 2) return reply;
  const address = `${text(reply.items[0])}:${text(reply.items[1])}`;
  const port = translation.redis.get(address);
  if (port === undefined) return { kind: 'line', type: '-', text: `ERR the test's sentinel view has no proxy for ${address}` };
  return { ...reply, items: [bulk('127.0.0.1'), bulk(String(port))] };
}

/** SENTINEL SENTINELS' entries (field/value lists, or RESP3 maps), each as its proxy; a sentinel without one is left out. */
function translateSentinels(reply: Resp, translation: Translation): Resp {
  if (reply.kind !== 'aggregate' || !reply.items) return reply;
  const items: Resp[] = [];
  for (const entry of reply.items) {
    if (entry.kind !== 'aggregate' || !entry.items) continue;
    const fields = entry.items.map(text);
    const ipAt = fields.indexOf('ip') + 1;
    const portAt = fields.indexOf('port') + 1;
    const port = translation.sentinels.get(`${fields[ipAt]}:${fields[portAt]}`);
    if (ipAt === 0 || portAt === 0 || port === undefined) continue;
    const translated = [...entry.items];
    translated[ipAt] = bulk('127.0.0.1');
    translated[portAt] = bulk(String(port));
    items.push({ ...entry, items: translated });
  }
  return { ...reply, items };
}

interface SentinelProxy {
  port: number;
  cut(): void;
  heal(): void;
  close(): Promise<void>;
}

/** A proxy before one sentinel that translates the addresses in its answers (see the header). */
async function startSentinelProxy(sentinelPort: number, translation: Translation): Promise<SentinelProxy> {
  const connections = new Set<{ client: net.Socket; upstream: net.Socket }>();
  let cut = false;
  const server = net.createServer((client) => {
    const upstream = net.connect({ port: sentinelPort, host: '127.0.0.1' });
    const connection = { client, upstream };
    connections.add(connection);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      connections.delete(connection);
    };
    for (const socket of [client, upstream]) {
      socket.on('error', drop);
      socket.on('close', drop);
    }
    if (cut) return drop();
    // Replies come in the order of the commands: each one's reply is translated or passed as it is.
    const asked: Asked[] = [];
    let commands = Buffer.alloc(0);
    let replies = Buffer.alloc(0);
    let subscribing = false;
    let passThrough = false;
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      if (subscribing) return;
      commands = Buffer.concat([commands, chunk]);
      try {
        for (let parsed = parseResp(commands, 0); parsed; parsed = parseResp(commands, 0)) {
          const kind = askedBy(parsed.value);
          asked.push(kind);
          commands = commands.subarray(parsed.end);
          if (kind === 'subscribe') {
            subscribing = true;
            return;
          }
        }
      } catch {
        drop();
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      if (passThrough) {
        client.write(chunk);
        return;
      }
      replies = Buffer.concat([replies, chunk]);
      try {
        for (let parsed = parseResp(replies, 0); parsed; parsed = parseResp(replies, 0)) {
          const kind = asked.shift() ?? 'other';
          if (kind === 'subscribe') {
            // Messages come unasked from here on: the rest is passed as it is.
            passThrough = true;
            client.write(replies);
            replies = Buffer.alloc(0);
            return;
          }
          const raw = replies.subarray(0, parsed.end);
          client.write(kind === 'primary' ? encodeResp(translatePrimary(parsed.value, translation))
            : kind === 'sentinels' ? encodeResp(translateSentinels(parsed.value, translation)) : raw);
          replies = replies.subarray(parsed.end);
        }
      } catch {
        drop();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dropAll = () => {
    for (const { client, upstream } of [...connections]) {
      client.destroy();
      upstream.destroy();
    }
    connections.clear();
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    cut() {
      cut = true;
      dropAll();
    },
    heal() {
      cut = false;
    },
    async close() {
      dropAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The view of `topology` for one client: proxies before its primary and replica (by port) and before each sentinel. */
export async function startSentinelView(topology: TestSentinels): Promise<SentinelView> {
  const redisProxies: RedisProxy[] = [];
  const sentinelProxies: SentinelProxy[] = [];
  const close = async () => {
    await Promise.all([...redisProxies, ...sentinelProxies].map((proxy) => proxy.close()));
  };
  try {
    const translation: Translation = { redis: new Map(), sentinels: new Map() };
    for (const node of [topology.primary, topology.replica]) {
      const proxy = await startProxy(node.port);
      redisProxies.push(proxy);
      translation.redis.set(`127.0.0.1:${node.port}`, proxy.port);
    }
    for (const node of topology.nodes) {
      const proxy = await startSentinelProxy(node.port, translation);
      sentinelProxies.push(proxy);
      translation.sentinels.set(`${node.host}:${node.port}`, proxy.port);
    }
    return {
      nodes: sentinelProxies.map(({ port }) => ({ host: '127.0.0.1', port })),
      cut() {
        for (const proxy of [...sentinelProxies, ...redisProxies]) proxy.cut();
      },
      heal() {
        for (const proxy of [...sentinelProxies, ...redisProxies]) proxy.heal();
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
