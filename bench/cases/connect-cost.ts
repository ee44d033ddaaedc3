/**
 * Part of case 6: what routing a first touch costs at connect time. Ours: socket IDs that name
 * their server (lib/transport/redis/socket-ids.ts), measured as connect latency against the same
 * socket.io server without it, in interleaved rounds in this process. The alternative, a directory
 * of sockets in Redis, costs at least one command per connect and one per disconnect: timed here
 * as HSET and HDEL round trips to a Redis of its own.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient } from 'redis';
import { Server } from 'socket.io';
import { io as connect } from 'socket.io-client';
import { stampSocketIds } from '../../lib/transport/redis/socket-ids';
import { startRedis } from '../../test/support/redis';
import { now } from '../support/clock';
import { median, percentile, round } from '../support/stats';

const ROUNDS = 12;
const CONNECTS_PER_ROUND = 60;
const DIRECTORY_SAMPLES = 500;

async function connectLatencies(url: string, count: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = now();
    const client = connect(url, { transports: ['websocket'], reconnection: false, forceNew: true });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', resolve);
      client.once('connect_error', reject);
    });
    latencies.push(now() - start);
    client.disconnect();
  }
  return latencies;
}

async function directoryRoundTrips(): Promise<{ hset: number; hdel: number }> {
  const redis = await startRedis();
  const client = createClient({ url: redis.url });
  try {
    await client.connect();
    const hset: number[] = [];
    const hdel: number[] = [];
    for (let i = 0; i < DIRECTORY_SAMPLES; i++) {
      const id = `server-1.socket-${i}`;
      let start = now();
      await client.hSet('sockets', id, 'server-1');
      hset.push(now() - start);
      start = now();
      await client.hDel('sockets', id);
      hdel.push(now() - start);
    }
    return { hset: percentile(hset, 50), hdel: percentile(hdel, 50) };
  } finally {
    await client.close().catch(() => {});
    await redis.stop();
  }
}

export interface ConnectCost {
  /** Per round: connect p50 (ms) with IDs naming the server, and without. */
  rounds: Array<{ stamped: number; plain: number }>;
  summary: string;
}

export async function measureConnectCost(): Promise<ConnectCost> {
  const http: HttpServer = createServer();
  const io = new Server(http);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const rounds: ConnectCost['rounds'] = [];
  try {
    await connectLatencies(url, CONNECTS_PER_ROUND);
    const stampedRound = async () => {
      const unstamp = stampSocketIds(io.of('/'), 'bench-server-0000');
      try {
        return percentile(await connectLatencies(url, CONNECTS_PER_ROUND), 50);
      } finally {
        unstamp();
      }
    };
    const plainRound = async () => percentile(await connectLatencies(url, CONNECTS_PER_ROUND), 50);
    for (let round = 0; round < ROUNDS; round++) {
      // Each goes first in every other round: neither pays for coming second.
      if (round % 2 === 0) {
        const stamped = await stampedRound();
        rounds.push({ stamped, plain: await plainRound() });
      } else {
        const plain = await plainRound();
        rounds.push({ stamped: await stampedRound(), plain });
      }
    }
  } finally {
    await io.close();
  }
  const ratios = rounds.map((r) => r.stamped / r.plain);
  const directory = await directoryRoundTrips();
  const summary = `Connect cost: socket.io connect p50 with IDs naming their server ${round(median(rounds.map((r) => r.stamped)))} ms, without ${round(median(rounds.map((r) => r.plain)))} ms; `
    + `ratio median ${round(median(ratios))} (rounds ${round(Math.min(...ratios))}–${round(Math.max(...ratios))}). `
    + `A directory in Redis would add an HSET at connect (p50 ${round(directory.hset)} ms) and an HDEL at disconnect (p50 ${round(directory.hdel)} ms), per socket.`;
  return { rounds, summary };
}
