/**
 * A rolling upgrade: a server of the previous wire protocol (1, sails-hook-rooms 0.1.x), built
 * from this repository's history, beside a current one (protocol 2) on one Redis.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient } from 'redis';
import { connectRaw, type TestClient } from '../support/clients';
import { assertHealthy, launch, startServer, type TestServer } from '../support/cluster';
import { nextEvent, record, waitFor } from '../support/events';
import { run } from '../support/processes';
import { startRedis, type TestRedis } from '../support/redis';
import { activeResourceCounts, waitForResourcesBackTo, type ResourceCounts } from '../support/resources';

/**
 * The last commit before the first change of the wire protocol: its build speaks protocol 1
 * (presence without a protocol number, no fences), as the published 0.1.x does.
 */
const PROTOCOL_1_COMMIT = '27c7d2de15dc77d894313de85e9b0c1b879dca7f';

const ROOT = path.resolve(__dirname, '../..');
/** The hook's request channel, with the default key. */
const REQUEST_CHANNEL = '{socket.io-rooms}#/#';
/** Runs of the check per direction: a broadcast overtaking a leave is a race, seen in some runs only. */
const RUNS = 25;

const WARNING = /sails-hook-rooms: server (\S+) speaks protocol 1 \(sails-hook-rooms 0\.1\.x\) and this server speaks 2\. Operations between them work, but the guarantees under partitions do not hold while it is in the cluster: it neither fences servers cut off from Redis nor catches up when it is one\. Upgrade every server of the cluster\./;

type FunMessage = { roomName: string; data: unknown; server: string };

/** Extracts `PROTOCOL_1_COMMIT` into `dir` and builds it there with the repository's own node_modules. */
async function buildProtocol1Hook(dir: string): Promise<void> {
  try {
    await run('git', ['-C', ROOT, 'cat-file', '-e', `${PROTOCOL_1_COMMIT}^{commit}`]);
  } catch (err) {
    throw new Error(`commit ${PROTOCOL_1_COMMIT} (the last build of wire protocol 1) is not in the git history of ${ROOT}: `
      + 'this test builds it to run beside the current code. Clone the repository with its history (not --depth 1), '
      + `or fetch that commit.\n${(err as Error).message}`);
  }
  const tarball = path.join(dir, 'protocol-1.tar');
  const hook = path.join(dir, 'hook');
  await run('git', ['-C', ROOT, 'archive', '--format=tar', '-o', tarball, PROTOCOL_1_COMMIT]);
  await mkdir(hook);
  await run('tar', ['-x', '-f', tarball, '-C', hook]);
  // Its dependencies are the current ones' (the commit did not change them); the build is its own.
  await symlink(path.join(ROOT, 'node_modules'), path.join(hook, 'node_modules'), 'dir');
  await run(path.join(hook, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], { cwd: hook });
}

interface PresenceSeen {
  from: string;
  type: string;
  /** The message's fields after the type: [] for protocol 1, [protocol] for 2. */
  rest: unknown[];
}

/** Records every presence message (hello/up/beat/bye) published on the request channel. */
async function watchPresence(redisUrl: string): Promise<{ seen: PresenceSeen[]; close(): Promise<void> }> {
  const client = createClient({ url: redisUrl });
  client.on('error', () => {});
  await client.connect();
  const seen: PresenceSeen[] = [];
  await client.subscribe(REQUEST_CHANNEL, (raw) => {
    const parsed = JSON.parse(raw) as unknown[];
    // One message, or a batch of those a server sent in one tick.
    for (const fields of (Array.isArray(parsed[0]) ? parsed : [parsed]) as unknown[][]) {
      if (['hello', 'up', 'beat', 'bye'].includes(fields[2] as string)) {
        seen.push({ from: fields[0] as string, type: fields[2] as string, rest: fields.slice(3) });
      }
    }
  });
  return { seen, close: () => client.close() };
}

/** The fields of a result both protocols' fixtures return (the current one adds `unreachable…`). */
function common(body: { matched: number; servers: number; notFound: string[] }) {
  return { matched: body.matched, servers: body.servers, notFound: body.notFound };
}

const CONFIRMED_ONE = { matched: 1, servers: 2, notFound: [] };

describe('a server of wire protocol 1 (0.1.x) beside one of protocol 2, on one Redis', function () {
  this.timeout(60_000);

  let baseline: ResourceCounts;
  let buildDir: string | undefined;
  let redis: TestRedis | undefined;
  let watch: Awaited<ReturnType<typeof watchPresence>> | undefined;
  const servers: TestServer[] = [];
  const clients: TestClient[] = [];
  let oldServer: TestServer;
  let newServer: TestServer;
  let onOld: { client: TestClient; socketId: string };
  let onNew: { client: TestClient; socketId: string };

  before(async function () {
    // Extracting and compiling a commit takes seconds; allow for a slow CI machine.
    this.timeout(180_000);
    buildDir = await mkdtemp(path.join(tmpdir(), 'sails-hook-rooms-protocol-1-'));
    // After an await: mocha's timer of this hook is armed by now, as the after hook's will be.
    baseline = activeResourceCounts();
    await buildProtocol1Hook(buildDir);

    redis = await startRedis();
    watch = await watchPresence(redis.url);
    const env = { ROOMS_ADAPTER: 'redis', REDIS_URL: redis.url };
    // As in an upgrade: the old server runs first, the new one joins it.
    oldServer = await launch('old', env, path.join(buildDir, 'hook/fixtures/app/app.js'));
    servers.push(oldServer);
    newServer = await startServer('new', redis.url, 'redis');
    servers.push(newServer);

    onOld = await connectTo(oldServer);
    onNew = await connectTo(newServer);
  });

  async function connectTo(server: TestServer) {
    const client = await connectRaw(server.url);
    clients.push(client);
    return { client, socketId: await client.socketId() };
  }

  after(async () => {
    for (const client of clients) client.disconnect();
    await Promise.all(servers.map((server) => server.child.stop()));
    await watch?.close();
    await redis?.stop();
    if (buildDir) await rm(buildDir, { recursive: true, force: true });
    await waitForResourcesBackTo(baseline);
  });

  /** The uids each server announces itself with, told apart by the shape of their presence. */
  async function uids(): Promise<{ old: string; current: string }> {
    const senders = () => new Set(watch!.seen.map((p) => p.from));
    await waitFor(() => senders().size === 2, 'presence from both servers');
    const old = watch!.seen.find((p) => p.rest.length === 0)?.from;
    const current = watch!.seen.find((p) => p.rest.length > 0)?.from;
    assert.ok(old && current && old !== current, `presence seen: ${JSON.stringify(watch!.seen)}`);
    return { old, current };
  }

  it('really runs protocol 1 beside protocol 2: presence without a protocol number, and with 2', async () => {
    const { old } = await uids();
    for (const presence of watch!.seen) {
      assert.deepEqual(presence.rest, presence.from === old ? [] : [2], `${presence.type} of ${presence.from === old ? 'the old' : 'the new'} server`);
    }
  });

  it('the current server warns that the old one speaks protocol 1 and what stops working', async () => {
    const { old } = await uids();
    const [, named] = await newServer.child.waitForOutput(WARNING, 10_000);
    assert.equal(named, old, 'the warning names the old server');
    assert.doesNotMatch(oldServer.child.output(), /speaks protocol/, 'the old server knows no protocols');
  });

  // Operations by socket ID between them, in both directions.
  {
    const directions = [
      { name: 'from the new server on a socket of the old one', from: () => newServer, to: () => onOld },
      { name: 'from the old server on a socket of the new one', from: () => oldServer, to: () => onNew },
    ];

    for (const { name, from, to } of directions) {
      it(`${name}: confirmed, and the callback's broadcast reaches it after a join, never after a leave (${RUNS} runs)`, async () => {
        const { client, socketId } = to();
        for (let i = 0; i < RUNS; i += 1) {
          const roomName = `upgrade-${from().name}-${i}`;
          const joinedFun = nextEvent<FunMessage>(client, 'fun');
          // Awaited below; handled now, so that a failed request before it leaves no stray rejection.
          joinedFun.catch(() => {});
          const joined = await from().post('/rooms/add-socket', { socketId, roomName, announce: `joined ${i}` });
          assert.equal(joined.status, 200, JSON.stringify(joined.body));
          assert.deepEqual(common(joined.body), CONFIRMED_ONE);
          assert.deepEqual(await joinedFun, { roomName, data: `joined ${i}`, server: from().name });

          const fun = record<FunMessage>(client, 'fun');
          const left = await from().post('/rooms/remove-socket', { socketId, roomName, announce: `left ${i}` });
          assert.equal(left.status, 200, JSON.stringify(left.body));
          assert.deepEqual(common(left.body), CONFIRMED_ONE);
          // Sent after the announce by the same server, so it arrives after it: nothing more can come.
          const sentinel = nextEvent(client, 'sentinel');
          sentinel.catch(() => {});
          await from().post('/rooms/broadcast', { roomName: socketId, eventName: 'sentinel' });
          await sentinel;
          fun.stop();
          assert.deepEqual(fun.received, [], 'a broadcast reached a socket after its leave was confirmed');
        }
        for (const server of servers) assertHealthy(server);
      });
    }
  }

  it('warns once only for that peer, through its heartbeats and operations, and nothing crashes', async function () {
    this.timeout(20_000);
    const { old } = await uids();
    await newServer.child.waitForOutput(WARNING, 10_000);
    // Three more heartbeats of the old server (one a second) after the warning...
    const heard = watch!.seen.filter((p) => p.from === old).length;
    await waitFor(() => watch!.seen.filter((p) => p.from === old).length >= heard + 3, 'three more heartbeats of the old server', 10_000);
    // ...then a request of the old server's, which the new one answers only once it read them.
    const asked = await oldServer.post('/rooms/remove-socket', { socketId: onNew.socketId, roomName: 'none' });
    assert.deepEqual(common(asked.body), CONFIRMED_ONE);
    for (const server of servers) assertHealthy(server);

    // The new server lowers, so that everything it printed has been read.
    const closed = Promise.all([newServer.child.process.stdout!, newServer.child.process.stderr!]
      .map((stream) => (stream.closed ? undefined : once(stream, 'close'))));
    await newServer.child.stop();
    await closed;
    const warnings = [...newServer.child.output().matchAll(new RegExp(WARNING.source, 'g'))];
    assert.equal(warnings.length, 1, `warnings:\n${warnings.map((w) => w[0]).join('\n')}`);
    assert.doesNotMatch(newServer.child.output(), /unhandled|uncaught/i);
    assertHealthy(oldServer);
  });
});
