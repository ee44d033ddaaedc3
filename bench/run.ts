/**
 * `npm run bench`: measures sails-hook-rooms side by side with what a user would otherwise use, in
 * one run, and prints the ratios. Writes bench/results/latest.json and latest.svg (the README's
 * chart). `npm run bench -- 2 3` runs only those cases and writes nothing.
 *
 * Processes: two Redis servers (ours, stock), bench servers A and B with sails-hook-rooms and A'
 * and B' with stock sails-hook-sockets + @sailshq/socket.io-redis (bench/server.ts), and the
 * clients, here. Every one is stopped at the end, whatever happens.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startRedis, type TestRedis } from '../test/support/redis';
import { cases } from './cases';
import { chart } from './support/chart';
import type { BenchContext } from './support/context';
import { failedRow, table, markdownTable, type CaseRow } from './support/report';
import { startServer, type ServerHandle } from './support/servers';
import type { ServerSpec } from './support/server-context';

const RESULTS = path.resolve(__dirname, 'results');

/** What the table does not say by itself. */
const NOTES = [
  'ours: sails-hook-rooms; stock hook: sails-hook-sockets 3 with @sailshq/socket.io-redis, as the Sails documentation sets up several servers.',
  'Servers are separate processes on one machine with their own Redis (loopback); ours and its baseline run side by side, interleaved, medians of rounds.',
  'Case 1: 500 real sockets in 20 rooms each, leaves in shuffled order, 100 per event-loop turn (callbacks called before the next turn).',
  'Case 2: 1,000 warm-up operations, then 7 rounds of 150 (socket, room) pairs, each pair left and joined with a callback, then left and joined awaited, each operation followed by a raw Redis round trip in the same two processes; "applied on B" is measured in 2 more rounds of 300 leaves, B recording each leave.',
  'Case 4: the room members are simulated sockets (real socket.io Socket objects registered in the namespace and its adapter, no connection): 50,000 websocket clients do not fit the time budget on two cores.',
  'Case 5: each flavor runs on 3 deployments in turn (single servers; pairs on a Redis of their own), each warmed up first: a Node process can run the same Sails code up to 20 % slower than another, for its whole life; the ratios are medians of the ratios of windows run side by side. Memory measured with 1,000 real sockets and normalized to 10k. Targets of case 5: the median ratio of requests/s at least 1.0 with the lower bound of its 90 % bootstrap interval over the pairs at least 0.97; memory at most 1.0x.',
  'Case 7: in the bench\'s own process, A and B built from the compiled hook over an in-process pub/sub; each figure is a p50 minus the raw round trip\'s p50 over the same pub/sub; cold: 16 MB of memory touched before each delivery (left out of the time), as other processes do to a server\'s caches between its messages.',
];

const running: Array<{ stop(): Promise<void> }> = [];

async function stopEverything() {
  await Promise.allSettled(running.splice(0).map((process) => process.stop()));
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const deadline = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} ran out of its ${ms / 1000} s`)), ms); });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

async function machine(redis: TestRedis) {
  const info = await redis.command<string>('INFO', 'server');
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    redis: info.match(/redis_version:(\S+)/)?.[1],
    loadAverageAtStart: os.loadavg().map((load) => Number(load.toFixed(2))),
  };
}

async function main() {
  const selected = process.argv.slice(2).map(Number);
  const started = Date.now();
  const log = (message: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${message}`);

  const [oursRedis, stockRedis] = await Promise.all([startRedis(), startRedis()]);
  running.push(oursRedis, stockRedis);
  const start = async (spec: ServerSpec) => {
    const server: ServerHandle = await startServer(spec);
    running.push(server);
    return server;
  };
  log('lifting servers A, B (sails-hook-rooms) and A\', B\' (stock sails-hook-sockets) on two Redis servers');
  const [oursA, oursB, stockA, stockB] = await Promise.all([
    start({ name: 'ours-A', flavor: 'ours', adapter: 'redis', redisUrl: oursRedis.url }),
    start({ name: 'ours-B', flavor: 'ours', adapter: 'redis', redisUrl: oursRedis.url }),
    start({ name: 'stock-A', flavor: 'stock', adapter: 'redis', redisUrl: stockRedis.url }),
    start({ name: 'stock-B', flavor: 'stock', adapter: 'redis', redisUrl: stockRedis.url }),
  ]);
  const ctx: BenchContext = {
    redis: { ours: oursRedis, stock: stockRedis },
    ours: [oursA, oursB],
    stock: [stockA, stockB],
    start,
    log,
  };

  const rows: CaseRow[] = [];
  for (const { name, module, timeoutMs } of cases) {
    // Cases are selected by their number (case 6 has a script of its own).
    if (selected.length > 0 && !selected.includes(Number.parseInt(name, 10))) continue;
    log(`case ${name}`);
    try {
      rows.push(...await withTimeout(module.measure(ctx), timeoutMs, `case ${name}`));
    } catch (err) {
      log(`case ${name} failed: ${(err as Error).stack ?? err}`);
      rows.push(failedRow(name, err));
    }
  }
  log('done');
  console.log(`\n${table(rows)}\n\n${NOTES.map((note) => `- ${note}`).join('\n')}\n`);

  if (selected.length === 0) {
    const results = { machine: await machine(oursRedis), date: new Date().toISOString(), cases: rows, notes: NOTES };
    await mkdir(RESULTS, { recursive: true });
    await writeFile(path.join(RESULTS, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
    const subtitle = `${results.date.slice(0, 10)} · ${results.machine.cpus} × ${results.machine.cpuModel} · Node ${results.machine.node} · Redis ${results.machine.redis} on loopback`;
    await writeFile(path.join(RESULTS, 'latest.svg'), chart(rows, subtitle));
    await writeFile(path.join(RESULTS, 'latest.md'), `${markdownTable(rows)}\n`);
    log(`wrote ${path.relative(process.cwd(), RESULTS)}/latest.json, latest.svg and latest.md`);
  }
  if (rows.some((r) => r.pass === false)) process.exitCode = 1;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { void stopEverything().then(() => process.exit(130)); });
}
main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(stopEverything);
