/**
 * The cluster's record in Redis (lib/transport/redis/registry.ts): one contract, run against the
 * Lua scripts on a real Redis (through node-redis and through ioredis) and against the in-memory
 * implementation the unit tests use (test/support/fake-registry.ts), so the two cannot drift apart.
 */
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { CATCH_UP_CAP, createRedisRegistry, FENCED_RETENTION_MS, type Registry } from '../../lib/transport/redis/registry';
import { FakeRegistry } from '../support/fake-registry';
import { startRedis, type TestRedis } from '../support/redis';

const KEY = 'contract';
const CHANNEL = `{${KEY}-rooms}#/#`;
const SERVERS = `{${KEY}-rooms}:servers`;

interface Subject {
  registry: Registry;
  /** Notices the steps published, in order. */
  notices(): Promise<string[]>;
  /** Redis restarted empty. */
  lose(): Promise<void>;
  /** Backdates a fenced server's state by `ms`. */
  age(uid: string, ms: number): Promise<void>;
  close(): Promise<void>;
}

function fake(): Subject {
  const registry = new FakeRegistry();
  return {
    registry,
    notices: async () => [...registry.published],
    lose: async () => registry.lose(),
    async age(uid, ms) {
      const state = registry.states.get(uid)!;
      registry.states.set(uid, `${state[0]}:${Number(state.slice(2)) - ms}`);
    },
    close: async () => {},
  };
}

async function real(redis: TestRedis, library: 'node-redis' | 'ioredis'): Promise<Subject> {
  const client = library === 'node-redis' ? createClient({ url: redis.url }) : new Redis(redis.port, '127.0.0.1', { lazyConnect: true });
  const watcher = createClient({ url: redis.url });
  client.on('error', () => {});
  watcher.on('error', () => {});
  await Promise.all([client.connect(), watcher.connect()]);
  const notices: string[] = [];
  await watcher.subscribe(CHANNEL, (message) => { notices.push(message); });
  await redis.command('FLUSHALL');
  return {
    registry: createRedisRegistry(client, { key: KEY, channel: CHANNEL, sharded: false }),
    // A last message, published after the steps: once the watcher has it, it has every notice before it.
    notices: async () => { await redis.command('PUBLISH', CHANNEL, 'flush'); await waitForFlush(notices); return notices.filter((n) => n !== 'flush'); },
    lose: async () => { await redis.command('FLUSHALL'); },
    async age(uid, ms) {
      const state = await redis.command<string>('HGET', SERVERS, uid);
      await redis.command('HSET', SERVERS, uid, `${state[0]}:${Number(state.slice(2)) - ms}`);
    },
    async close() {
      await watcher.close();
      if (library === 'node-redis') await (client as ReturnType<typeof createClient>).close();
      else await (client as Redis).quit();
    },
  };
}

async function waitForFlush(notices: string[]) {
  const deadline = Date.now() + 2000;
  while (!notices.includes('flush')) {
    if (Date.now() > deadline) throw new Error('the watcher never saw the flush message');
    await new Promise((resolve) => setImmediate(resolve));
  }
  notices.splice(notices.indexOf('flush'), 1);
}

describe("the cluster's record in Redis", function () {
  this.timeout(30_000);
  let redis: TestRedis;
  before(async () => { redis = await startRedis(); });
  after(async () => { await redis?.stop(); });

  const subjects: Array<[string, () => Promise<Subject>]> = [
    ['the Lua scripts through node-redis', () => real(redis, 'node-redis')],
    ['the Lua scripts through ioredis', () => real(redis, 'ioredis')],
    ['the in-memory implementation of the unit tests', async () => fake()],
  ];

  for (const [name, make] of subjects) {
    describe(name, () => {
      let subject: Subject;
      let registry: Registry;
      let attempts = 0;
      const next = () => `attempt-${++attempts}`;
      beforeEach(async () => {
        subject = await make();
        registry = subject.registry;
      });
      afterEach(async () => { await subject.close(); });

      it('registers a new server as a member, in a record it creates', async () => {
        const registration = await registry.register('a', '', [], '', next(), '');
        assert.equal(registration.previous, 'absent');
        assert.deepEqual(registration.entries, []);
        assert.deepEqual([...registration.servers], [['a', { state: 'member' }]]);
        assert.equal((await registry.register('b', '', [], '', next(), '')).gen, registration.gen, 'one record, one generation');
      });

      it('fences a member once, publishing the notice in the same step; not a server it does not know, nor in another generation', async () => {
        const { gen } = await registry.register('a', '', [], '', next(), '');
        await registry.register('b', gen, [], '', next(), '');
        assert.equal(await registry.fence('b', 'another generation', 'wrong'), 'generation');
        assert.equal(await registry.fence('b', gen, 'notice-1'), 'fenced');
        assert.equal(await registry.fence('b', gen, 'notice-2'), 'already');
        assert.equal(await registry.fence('nobody', gen, 'notice-3'), 'absent');
        assert.deepEqual(await subject.notices(), ['notice-1']);
        assert.equal((await registry.servers()).get('b')?.state, 'fenced');
        assert.equal(typeof (await registry.servers()).get('b')?.since, 'number');
      });

      it('records removals for fenced servers only; a fenced server takes them, in order, as it registers again', async () => {
        const { gen } = await registry.register('a', '', [], '', next(), '');
        await registry.register('b', gen, [], '', next(), '');
        await registry.register('c', gen, [], '', next(), '');
        await registry.fence('b', gen, 'n');
        assert.deepEqual(await registry.record('r1', ['b'], gen), { members: [], absent: [] });
        assert.deepEqual(await registry.record('r2', ['b', 'c', 'gone'], gen), { members: ['c'], absent: ['gone'] });
        assert.equal(await registry.record('r3', ['b'], 'another generation'), 'generation');
        const back = await registry.register('b', gen, [], '', 'b-1', '');
        assert.equal(back.previous, 'fenced');
        assert.deepEqual(back.entries, ['r1', 'r2']);
        assert.equal(back.servers.get('b')?.state, 'member');
        // Registered: a removal confirmed from now on is sent to it.
        assert.deepEqual(await registry.record('r4', ['b'], gen), { members: ['b'], absent: [] });
        // Its next registration says it applied them: nothing more.
        assert.deepEqual((await registry.register('b', gen, [], '', 'b-2', 'b-1')).entries, []);
      });

      it("hands a catch-up over until the server's next registration says it applied it: a reply lost on the way loses nothing", async () => {
        const { gen } = await registry.register('a', '', [], '', next(), '');
        await registry.register('b', gen, [], '', 'b-0', '');
        await registry.fence('b', gen, 'n');
        await registry.record('r1', ['b'], gen);
        // This reply is lost: B never applies r1, and does not say it did.
        await registry.register('b', gen, [], '', 'b-1', 'b-0');
        await registry.fence('b', gen, 'n');
        await registry.record('r2', ['b'], gen);
        const again = await registry.register('b', gen, [], '', 'b-2', 'b-0');
        assert.deepEqual(again.entries, ['r1', 'r2'], 'what b-1 took, then what was recorded since');
        assert.deepEqual((await registry.register('b', gen, [], '', 'b-3', 'b-2')).entries, []);
      });

      it(`marks a fenced server lost past ${CATCH_UP_CAP} recorded removals`, async function () {
        this.timeout(60_000);
        const { gen } = await registry.register('a', '', [], '', next(), '');
        await registry.register('b', gen, [], '', next(), '');
        await registry.fence('b', gen, 'n');
        await Promise.all(Array.from({ length: CATCH_UP_CAP + 1 }, (_, i) => registry.record(`r${i}`, ['b'], gen)));
        assert.equal((await registry.servers()).get('b')?.state, 'lost');
        const back = await registry.register('b', gen, [], '', next(), '');
        assert.equal(back.previous, 'lost');
        assert.deepEqual(back.entries, []);
      });

      it('when the record was lost, marks lost the servers the registering one knew fenced, and says so', async () => {
        const { gen } = await registry.register('a', '', [], '', next(), '');
        await registry.register('b', gen, [], '', next(), '');
        await registry.fence('b', gen, 'n');
        await subject.lose();
        const again = await registry.register('a', gen, ['b'], 'lost-notice', next(), '');
        assert.notEqual(again.gen, gen, 'a new generation');
        assert.equal(again.servers.get('b')?.state, 'lost');
        assert.deepEqual((await subject.notices()).slice(-1), ['lost-notice']);
        assert.equal((await registry.register('b', gen, [], '', next(), '')).previous, 'lost');
        // In the same generation, nothing is marked.
        await registry.register('c', again.gen, ['a'], 'not-sent', next(), '');
        assert.equal((await registry.servers()).get('a')?.state, 'member');
      });

      it('drops a server fenced for longer than the retention', async () => {
        const { gen } = await registry.register('a', '', [], '', next(), '');
        await registry.register('b', gen, [], '', next(), '');
        await registry.register('c', gen, [], '', next(), '');
        await registry.fence('b', gen, 'n');
        await registry.fence('c', gen, 'n');
        await registry.record('r', ['b'], gen);
        await subject.age('b', FENCED_RETENTION_MS + 60_000);
        const registration = await registry.register('a', gen, [], '', next(), '');
        assert.equal(registration.servers.has('b'), false);
        assert.equal(registration.servers.get('c')?.state, 'fenced', 'one fenced recently stays');
        assert.equal((await registry.register('b', gen, [], '', next(), '')).previous, 'absent', 'it comes back to find itself dropped, its log with it');
      });

      it('forgets a server that leaves, and its log', async () => {
        const { gen } = await registry.register('a', '', [], '', next(), '');
        await registry.register('b', gen, [], '', next(), '');
        await registry.fence('b', gen, 'n');
        await registry.record('r', ['b'], gen);
        await registry.leave('b');
        assert.equal((await registry.servers()).has('b'), false);
        assert.deepEqual((await registry.register('b', gen, [], '', next(), '')).entries, []);
      });
    });
  }
});
