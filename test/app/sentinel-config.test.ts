/**
 * sails.config.rooms.sentinel: a bad value fails sails.lift() with E_INVALID_CONFIG naming the key
 * and the fix, never a password; it excludes url, pubClient/subClient and the memory adapter; and
 * without ioredis installed the lift says to install it.
 */
import assert from 'node:assert/strict';
import Module from 'node:module';
import { liftFixture, lowerFixture, type SailsTestApp } from '../support/fixture';
import { loggedMessages } from '../support/logs';

const PASSWORD = 'hunter2-s3ntinel';
const nodes = [{ host: '127.0.0.1', port: 26379 }];
const fakeRedisClient = () => ({ publish() {}, subscribe() {}, pSubscribe() {}, isReady: true });

async function liftFailure(rooms: Record<string, unknown>): Promise<Error & { code?: string }> {
  let app: SailsTestApp | undefined;
  try {
    app = await liftFixture({ rooms });
  } catch (error) {
    return error as Error & { code?: string };
  }
  await lowerFixture(app);
  return assert.fail('sails.lift() succeeded with a bad configuration');
}

interface BadSentinel {
  title: string;
  rooms: Record<string, unknown>;
  /** The key the message names, after `sails.config.rooms.`. */
  key: string;
  mentions: RegExp[];
}

const redis = (sentinel: unknown, more: Record<string, unknown> = {}) => ({ adapter: 'redis', sentinel, ...more });

const BAD: BadSentinel[] = [
  { title: "sentinel: 'mymaster' (a string)", rooms: redis('mymaster'), key: 'sentinel', mentions: [/"mymaster"/, /name: 'mymaster', nodes: \[\{ host/] },
  { title: 'no name', rooms: redis({ nodes }), key: 'sentinel.name', mentions: [/undefined/, /sentinel monitor <name>/] },
  { title: "name: ''", rooms: redis({ name: '', nodes }), key: 'sentinel.name', mentions: [/""/] },
  { title: 'no nodes', rooms: redis({ name: 'mymaster' }), key: 'sentinel.nodes', mentions: [/undefined/, /\{ host, port \}/] },
  { title: 'nodes: []', rooms: redis({ name: 'mymaster', nodes: [] }), key: 'sentinel.nodes', mentions: [/array of length 0/, /one or more/] },
  { title: "natMap: ['10.0.0.5:6379'] (an array)", rooms: redis({ name: 'mymaster', nodes, natMap: ['10.0.0.5:6379'] }), key: 'sentinel.natMap', mentions: [/'172\.17\.0\.2:6379': \{ host/] },
  { title: "natMap: { '10.0.0.5': … } (no port)", rooms: redis({ name: 'mymaster', nodes, natMap: { '10.0.0.5': { host: 'redis-1', port: 6379 } } }), key: 'sentinel.natMap key "10.0.0.5"', mentions: [/'host:port'/] },
  { title: "natMap: { '10.0.0.5:6379': 'redis-1:6379' } (a string)", rooms: redis({ name: 'mymaster', nodes, natMap: { '10.0.0.5:6379': 'redis-1:6379' } }), key: 'sentinel.natMap["10.0.0.5:6379"]', mentions: [/"redis-1:6379"/, /\{ host, port \}/] },
  { title: "nodes: ['127.0.0.1:26379'] (strings)", rooms: redis({ name: 'mymaster', nodes: ['127.0.0.1:26379'] }), key: 'sentinel.nodes[0]', mentions: [/"127\.0\.0\.1:26379"/, /\{ host, port \}/] },
  { title: 'a node without host', rooms: redis({ name: 'mymaster', nodes: [...nodes, { port: 26380 }] }), key: 'sentinel.nodes[1].host', mentions: [/undefined/, /host name or IP address/] },
  { title: "a port as a string ('26379')", rooms: redis({ name: 'mymaster', nodes: [{ host: '127.0.0.1', port: '26379' }] }), key: 'sentinel.nodes[0].port', mentions: [/"26379"/, /1 to 65535/] },
  { title: 'port 70000', rooms: redis({ name: 'mymaster', nodes: [{ host: '127.0.0.1', port: 70000 }] }), key: 'sentinel.nodes[0].port', mentions: [/70000/] },
  { title: 'db: -1', rooms: redis({ name: 'mymaster', nodes, db: -1 }), key: 'sentinel.db', mentions: [/-1/, /database number/] },
  { title: "username: ''", rooms: redis({ name: 'mymaster', nodes, username: '' }), key: 'sentinel.username', mentions: [/""/] },
  { title: "an unknown key 'sentinelPasword'", rooms: redis({ name: 'mymaster', nodes, sentinelPasword: PASSWORD }), key: 'sentinel.sentinelPasword', mentions: [/not a Sentinel setting/, /sentinelPassword/] },
  { title: 'sentinel with url', rooms: redis({ name: 'mymaster', nodes, password: PASSWORD }, { url: 'redis://127.0.0.1:6379' }), key: 'sentinel', mentions: [/remove url/] },
  { title: 'sentinel with pubClient/subClient', rooms: redis({ name: 'mymaster', nodes }, { pubClient: fakeRedisClient(), subClient: fakeRedisClient() }), key: 'sentinel', mentions: [/pubClient\/subClient/, /Sentinel mode/] },
  { title: "sentinel with adapter 'memory'", rooms: { adapter: 'memory', sentinel: { name: 'mymaster', nodes } }, key: 'sentinel', mentions: [/'memory'/, /'redis'/] },
];

describe('sails.config.rooms.sentinel', () => {
  describe('a bad value fails sails.lift() with E_INVALID_CONFIG naming the key and the fix', () => {
    for (const bad of BAD) {
      it(bad.title, async () => {
        const error = await liftFailure(bad.rooms);
        assert.equal(error.code, 'E_INVALID_CONFIG', error.message);
        assert.match(error.message, new RegExp(`sails\\.config\\.rooms\\.${bad.key.replace(/[.[\]]/g, '\\$&')}[ :]`));
        assert.match(error.message, /config\/rooms\.js/);
        for (const mention of bad.mentions) assert.match(error.message, mention);
        assert.ok(!String(error.stack).includes(PASSWORD), `the error shows the password: ${error.message}`);
      });
    }
  });

  describe('a password is never shown', () => {
    for (const key of ['password', 'sentinelPassword']) {
      it(`${key}: 424242 (a number) names the key and the type only`, async () => {
        const error = await liftFailure(redis({ name: 'mymaster', nodes, [key]: 424242 }));
        assert.equal(error.code, 'E_INVALID_CONFIG', error.message);
        assert.match(error.message, new RegExp(`sails\\.config\\.rooms\\.sentinel\\.${key} is a value of type number: use a string`));
        assert.ok(!error.message.includes('424242'), error.message);
        assert.deepEqual(loggedMessages({ message: '424242' }), [], 'the log shows the password');
      });
    }
  });

  describe('without ioredis installed', () => {
    const loader = Module as unknown as { _load(request: string, ...rest: unknown[]): unknown };
    const load = loader._load;
    before(() => {
      loader._load = function (request: string, ...rest: unknown[]) {
        if (request === 'ioredis') throw Object.assign(new Error("Cannot find module 'ioredis'"), { code: 'MODULE_NOT_FOUND' });
        return load.call(this, request, ...rest);
      };
    });
    after(() => { loader._load = load; });

    it('the lift fails with E_INVALID_CONFIG saying to install it, before connecting anywhere', async () => {
      const error = await liftFailure(redis({ name: 'mymaster', nodes, password: PASSWORD }));
      assert.equal(error.code, 'E_INVALID_CONFIG', error.message);
      assert.match(error.message, /sails\.config\.rooms\.sentinel is set, but ioredis cannot be loaded: `npm install ioredis@5`/);
      assert.ok(!String(error.stack).includes(PASSWORD));
    });
  });
});
