/**
 * A lift that reaches Redis and then fails at a later step (an ACL user without some right):
 * E_UNAVAILABLE naming the step, the missing right and the fix, and everything the hook opened is
 * closed, so the process exits by itself. And a user with exactly the rights the README lists lifts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { requiredRights } from '../../lib/transport/redis/rights';
import { assertHealthy, launch, stopCluster } from '../support/cluster';
import { connectRaw } from '../support/clients';
import { startChild } from '../support/processes';
import { startRedis, type TestRedis } from '../support/redis';
import { connectionCount } from '../support/redis-inspect';
import { waitFor } from '../support/events';

const APP = path.resolve(__dirname, '../../fixtures/app/app.js');
/** A lift that fails must end its process this soon: nothing left open keeps it alive. */
const EXIT_WITHIN_MS = 15_000;

/** Lifts the fixture app in a process of its own as `user`; resolves with its exit code and output once it exits. */
async function liftAs(redis: TestRedis, user: string, adapter = 'redis') {
  const child = startChild(process.execPath, [APP], {
    name: user,
    env: { ...process.env, PORT: '0', SERVER_NAME: user, LOG_LEVEL: 'warn', ROOMS_ADAPTER: adapter, ROOMS_TIMEOUT: '3000', REDIS_URL: `redis://${user}:pw@127.0.0.1:${redis.port}` },
  });
  const timer = setTimeout(() => child.process.kill('SIGKILL'), EXIT_WITHIN_MS);
  const [code, signal] = await once(child.process, 'exit') as [number | null, string | null];
  clearTimeout(timer);
  return { code, signal, output: child.output() };
}

describe('a lift that fails after reaching Redis', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let baseline: number;
  before(async () => {
    redis = await startRedis();
    baseline = await connectionCount(redis);
  });
  after(async () => { await redis?.stop(); });

  const rights = requiredRights('socket.io', false);
  const without = (...removed: string[]) => rights.filter((right) => !removed.includes(right));
  const cases: Array<{ step: string; user: string; rules: string[]; names: RegExp }> = [
    { step: 'subscribing to its channels', user: 'no-subscribe', rules: without('+subscribe'), names: /could not subscribe to its channels: the Redis user lacks the command subscribe \(\+subscribe\)/ },
    { step: 'subscribing to its channels', user: 'no-channels', rules: without(...rights.filter((r) => r.startsWith('&'))),
      names: /could not subscribe to its channels: the Redis user lacks its channels \(Redis 7 users have none by default: grant &\{socket\.io-rooms\}#\/#\*/ },
    { step: "registering in the cluster's record", user: 'no-eval', rules: without('+eval'), names: /could not register in the cluster's record \(a Lua script\): the Redis user lacks the command eval \(\+eval\)/ },
    { step: "registering in the cluster's record", user: 'no-keys', rules: without('~{socket.io-rooms}:*'), names: /could not register in the cluster's record \(a Lua script\): the Redis user lacks its keys \(~\{socket\.io-rooms\}:\*\)/ },
    { step: 'announcing itself', user: 'no-publish', rules: without('+publish'), names: /could not announce itself to the other servers: the Redis user lacks the command publish \(\+publish\)/ },
    { step: "subscribing socket.io's adapter", user: 'no-psubscribe', rules: without('+psubscribe'), names: /could not subscribe socket\.io's Redis adapter to its channels: the Redis user lacks the command psubscribe \(\+psubscribe\)/ },
  ];

  for (const { step, user, rules, names } of cases) {
    it(`fails at ${step} (user ${user}) with E_UNAVAILABLE naming the missing right and the fix, and the process exits by itself`, async () => {
      // Redis 7 users start with no channel rights: resetchannels says so explicitly.
      await redis.command('ACL', 'SETUSER', user, 'reset', 'on', '>pw', 'resetchannels', ...rules);
      const { code, signal, output } = await liftAs(redis, user);
      assert.equal(signal, null, `the process did not exit by itself within ${EXIT_WITHIN_MS} ms:\n${output}`);
      assert.equal(code, 1, output);
      assert.match(output, /code: 'E_UNAVAILABLE'/);
      assert.match(output, names);
      assert.match(output, /Give the user these rights: ACL SETUSER <user> ~\{socket\.io-rooms\}:\* &\{socket\.io-rooms\}#\/#\*/);
      assert.doesNotMatch(output, /unhandled/i);
      // The ORM was still loading when the hook failed: Sails lowered it after it loaded, not under it.
      assert.doesNotMatch(output, /TypeError/);
      await waitFor(async () => await connectionCount(redis) === baseline, 'its Redis connections to be gone');
    });
  }

  it("lists in the README's ACL line exactly the rights it needs", async () => {
    const readme = await readFile(path.resolve(__dirname, '../../README.md'), 'utf8');
    const line = /^ACL SETUSER rooms on >password (.+)$/m.exec(readme)?.[1];
    assert.deepEqual(line?.split(' '), requiredRights('socket.io', false));
  });

  for (const adapter of ['redis', 'redis-sharded']) {
    it(`lifts, and works across servers, with exactly the rights the README lists (adapter '${adapter}')`, async () => {
      const user = `exact-${adapter}`;
      await redis.command('ACL', 'SETUSER', user, 'reset', 'on', '>pw', 'resetchannels', ...requiredRights('socket.io', adapter === 'redis-sharded'));
      await redis.command('ACL', 'LOG', 'RESET');
      const url = `redis://${user}:pw@127.0.0.1:${redis.port}`;
      const servers = await Promise.all(['a', 'b'].map((name) => launch(`${name}-${adapter}`, { ROOMS_ADAPTER: adapter, REDIS_URL: url, ROOMS_TIMEOUT: '3000' })));
      const client = await connectRaw(servers[1]!.url);
      try {
        const socketId = await client.socketId();
        const joined = await servers[0]!.post('/rooms/add-socket', { socketId, roomName: 'fun', announce: 'hi' });
        assert.equal(joined.body.matched, 1);
        const members = await (await fetch(`${servers[0]!.url}/rooms/members?roomName=fun`)).json();
        assert.deepEqual(members, { members: [socketId] });
        assert.deepEqual(await redis.command('ACL', 'LOG'), [], 'nothing was refused');
        servers.forEach(assertHealthy);
      } finally {
        client.disconnect();
        await stopCluster(servers);
      }
    });
  }
});
