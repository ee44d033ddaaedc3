/**
 * sails.config.rooms: a bad configuration fails sails.lift() at once with E_INVALID_CONFIG, naming
 * the key and the fix (and never a Redis password); a missing sockets hook fails it with
 * E_SOCKETS_HOOK_MISSING; defaults are applied in sails.config.rooms.
 */
import assert from 'node:assert/strict';
import { liftFixture, lowerFixture, type SailsTestApp } from '../support/fixture';
import { loggedMessages } from '../support/logs';
import { activeResourceCounts, waitForResourcesBackTo, type ResourceCounts } from '../support/resources';

const PASSWORD = 'hunter2-s3cret';

/** Text shaped as PEM, for the checks made before a certificate is loaded; it holds none. */
const PEM_SHAPED = '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n';
const TLS_URL = 'rediss://127.0.0.1:6380';

/** Something that passes for a connected Redis client; the lift fails before it is used. */
const fakeRedisClient = () => ({ publish() {}, subscribe() {}, pSubscribe() {}, isReady: true });

/** Lifts the fixture expecting failure; resolves with the error and how long it took. */
async function liftFailure(config: Record<string, unknown>): Promise<{ error: Error & { code?: string }; ms: number }> {
  const started = Date.now();
  let app: SailsTestApp | undefined;
  try {
    app = await liftFixture(config);
  } catch (error) {
    return { error: error as Error & { code?: string }, ms: Date.now() - started };
  }
  await lowerFixture(app);
  return assert.fail('sails.lift() succeeded with a bad configuration');
}

interface BadConfig {
  title: string;
  rooms: unknown;
  /** The key the message must name, as `sails.config.rooms.<key>`. */
  key: string;
  /** What else the message must say (the value received, the fix). */
  mentions: RegExp[];
}

const BAD_CONFIGS: BadConfig[] = [
  { title: "adapter: 'mongo'", rooms: { adapter: 'mongo' }, key: 'adapter', mentions: [/"mongo"/, /'memory'.*'redis'.*'redis-sharded'/] },
  { title: "adapter: '@sailshq/socket.io-redis' (the sockets hook's adapter name)", rooms: { adapter: '@sailshq/socket.io-redis' }, key: 'adapter', mentions: [/'redis'/] },
  { title: "confirm: 'yes'", rooms: { confirm: 'yes' }, key: 'confirm', mentions: [/"yes"/, /'cluster'.*'local'/] },
  { title: 'timeout: -1', rooms: { timeout: -1 }, key: 'timeout', mentions: [/number -1\b/, /milliseconds/] },
  { title: 'timeout: 0', rooms: { timeout: 0 }, key: 'timeout', mentions: [/number 0\b/, /milliseconds/] },
  { title: 'timeout: 1.5', rooms: { timeout: 1.5 }, key: 'timeout', mentions: [/1\.5/, /whole number/] },
  { title: "timeout: '5000' (a string)", rooms: { timeout: '5000' }, key: 'timeout', mentions: [/"5000"/, /milliseconds/] },
  { title: 'timeout: 2 ** 31 (beyond what setTimeout can wait)', rooms: { timeout: 2 ** 31 }, key: 'timeout', mentions: [/2147483648/, /2147483647/] },
  { title: "key: ''", rooms: { key: '' }, key: 'key', mentions: [/""/, /non-empty string/] },
  { title: "url: 'http://x' (not a Redis URL)", rooms: { adapter: 'redis', url: 'http://x' }, key: 'url', mentions: [/http:\/\/x/, /redis:\/\//] },
  { title: 'pubClient without subClient', rooms: { adapter: 'redis', pubClient: fakeRedisClient() }, key: 'subClient', mentions: [/pubClient and subClient/] },
  { title: 'subClient without pubClient', rooms: { adapter: 'redis', subClient: fakeRedisClient() }, key: 'pubClient', mentions: [/pubClient and subClient/] },
  { title: 'a pubClient that is no Redis client', rooms: { adapter: 'redis', pubClient: {}, subClient: fakeRedisClient() }, key: 'pubClient', mentions: [/node-redis|ioredis/] },
  { title: "adapter 'redis' without url or clients", rooms: { adapter: 'redis' }, key: 'url', mentions: [/'redis'/, /redis:\/\//] },
  { title: "url with adapter 'memory'", rooms: { adapter: 'memory', url: 'redis://127.0.0.1:6379' }, key: 'url', mentions: [/adapter/, /'memory'/, /'redis'/] },
  { title: "an unknown key 'adpter'", rooms: { adpter: 'redis' }, key: 'adpter', mentions: [/not a setting/, /\badapter\b/] },
  { title: 'tls: true', rooms: { adapter: 'redis', url: TLS_URL, tls: true }, key: 'tls', mentions: [/boolean true/, /\{ ca: fs\.readFileSync/, /a rediss:\/\/ url alone uses TLS with the system's CAs/] },
  { title: 'tls.caFile (not a TLS setting)', rooms: { adapter: 'redis', url: TLS_URL, tls: { caFile: '/etc/ssl/redis-ca.pem' } }, key: 'tls.caFile', mentions: [/not a TLS setting/, /ca, cert, key, servername, rejectUnauthorized/] },
  { title: "tls.ca a file's path, not its contents", rooms: { adapter: 'redis', url: TLS_URL, tls: { ca: '/etc/ssl/redis-ca.pem' } }, key: 'tls.ca', mentions: [/"\/etc\/ssl\/redis-ca\.pem"/, /not PEM/, /readFileSync/] },
  { title: 'tls.ca an empty array', rooms: { adapter: 'redis', url: TLS_URL, tls: { ca: [] } }, key: 'tls.ca', mentions: [/empty array/] },
  { title: 'tls.ca a Buffer that is no PEM', rooms: { adapter: 'redis', url: TLS_URL, tls: { ca: Buffer.from('/etc/ssl/redis-ca.pem') } }, key: 'tls.ca', mentions: [/a Buffer of 21 bytes, not PEM/] },
  { title: 'tls.cert without tls.key', rooms: { adapter: 'redis', url: TLS_URL, tls: { cert: PEM_SHAPED } }, key: 'tls.key', mentions: [/missing/, /both tls\.cert and tls\.key/] },
  { title: 'tls.key a number', rooms: { adapter: 'redis', url: TLS_URL, tls: { cert: PEM_SHAPED, key: 42 } }, key: 'tls.key', mentions: [/a value of type number/, /PEM string or a Buffer/] },
  { title: "tls.servername ''", rooms: { adapter: 'redis', url: TLS_URL, tls: { servername: '' } }, key: 'tls.servername', mentions: [/""/, /host name/] },
  { title: "tls.rejectUnauthorized 'false' (a string)", rooms: { adapter: 'redis', url: TLS_URL, tls: { rejectUnauthorized: 'false' } }, key: 'tls.rejectUnauthorized', mentions: [/"false"/, /true \(the default\) or false/] },
  { title: 'tls.cert and tls.key that do not load', rooms: { adapter: 'redis', url: TLS_URL, tls: { cert: PEM_SHAPED, key: PEM_SHAPED } }, key: 'tls', mentions: [/could not be loaded/, /ERR_OSSL_/, /key the private key of cert/] },
  { title: "tls with adapter 'memory'", rooms: { adapter: 'memory', tls: {} }, key: 'tls', mentions: [/'memory'/, /remove tls/] },
  { title: 'tls with pubClient/subClient', rooms: { adapter: 'redis', pubClient: fakeRedisClient(), subClient: fakeRedisClient(), tls: {} }, key: 'tls', mentions: [/pubClient\/subClient/, /TLS on your own clients/, /createClient\(\{ url: 'rediss:/] },
  { title: 'tls with a redis:// url (no TLS)', rooms: { adapter: 'redis', url: 'redis://127.0.0.1:6379', tls: {} }, key: 'tls', mentions: [/redis:\/\/127\.0\.0\.1:6379/, /use a rediss:\/\/ URL for TLS, or remove tls/] },
];

/** Configurations whose URL holds a password: the message must not show it. */
const CONFIGS_WITH_PASSWORD: BadConfig[] = [
  { title: 'a non-Redis URL with a password', rooms: { adapter: 'redis', url: `http://admin:${PASSWORD}@cache.example.com:6379` }, key: 'url', mentions: [/cache\.example\.com/] },
  { title: 'a URL without scheme holding a password', rooms: { adapter: 'redis', url: `admin:${PASSWORD}@cache.example.com:6379` }, key: 'url', mentions: [/cache\.example\.com/] },
  { title: "a Redis URL with a password and adapter 'memory'", rooms: { adapter: 'memory', url: `redis://:${PASSWORD}@127.0.0.1:6379` }, key: 'url', mentions: [] },
  { title: 'a redis:// URL with a password beside tls', rooms: { adapter: 'redis', url: `redis://default:${PASSWORD}@127.0.0.1:6379`, tls: {} }, key: 'tls', mentions: [/rediss:\/\//] },
  { title: 'a Redis URL with a password beside pubClient/subClient', rooms: { adapter: 'redis', url: `redis://default:${PASSWORD}@127.0.0.1:6379`, pubClient: fakeRedisClient(), subClient: fakeRedisClient() }, key: 'url', mentions: [/either url or pubClient\/subClient/] },
];

describe('sails.config.rooms', function () {
  let baseline: ResourceCounts;

  before(() => { baseline = activeResourceCounts(); });

  describe('a bad configuration fails sails.lift() with E_INVALID_CONFIG naming the key and the fix', () => {
    for (const bad of BAD_CONFIGS) {
      it(bad.title, async () => {
        const { error } = await liftFailure({ rooms: bad.rooms });
        assert.ok(error instanceof Error);
        assert.equal(error.code, 'E_INVALID_CONFIG', error.message);
        assert.match(error.message, new RegExp(`sails\\.config\\.rooms\\.${bad.key}\\b`));
        assert.match(error.message, /config\/rooms\.js/);
        for (const mention of bad.mentions) assert.match(error.message, mention);
      });
    }

    it('sails.config.rooms that is not an object (a string)', async () => {
      const { error } = await liftFailure({ rooms: 'redis' });
      assert.equal(error.code, 'E_INVALID_CONFIG');
      assert.match(error.message, /sails\.config\.rooms\b/);
      assert.match(error.message, /export an object from config\/rooms\.js/);
    });
  });

  describe('a Redis password never appears in the error', () => {
    for (const bad of CONFIGS_WITH_PASSWORD) {
      it(bad.title, async () => {
        const { error } = await liftFailure({ rooms: bad.rooms });
        assert.equal(error.code, 'E_INVALID_CONFIG', error.message);
        assert.match(error.message, new RegExp(`sails\\.config\\.rooms\\.${bad.key}\\b`));
        for (const mention of bad.mentions) assert.match(error.message, mention);
        assert.ok(!error.message.includes(PASSWORD), `the message shows the password: ${error.message}`);
        assert.ok(!String(error.stack).includes(PASSWORD), 'the stack shows the password');
        assert.deepEqual(loggedMessages({ message: PASSWORD }), [], 'the log shows the password');
      });
    }
  });

  describe('a private key never appears in the error', () => {
    it('tls.key a string that is no PEM (a key without its PEM lines)', async () => {
      const key = 'MHcCAQEEIBxmXyP4t1sKkz0yS3cretKeyMaterial';
      const { error } = await liftFailure({ rooms: { adapter: 'redis', url: TLS_URL, tls: { cert: PEM_SHAPED, key } } });
      assert.equal(error.code, 'E_INVALID_CONFIG', error.message);
      assert.match(error.message, /sails\.config\.rooms\.tls\.key is a string of length 41, not PEM/);
      assert.ok(!error.message.includes(key.slice(0, 8)), `the message shows the key: ${error.message}`);
    });
  });

  describe('the sockets hook', () => {
    it("sails.config.sockets.adapter '@sailshq/socket.io-redis' fails the lift with E_INVALID_CONFIG saying to configure Redis in config/rooms.js", async () => {
      const { error } = await liftFailure({ sockets: { adapter: '@sailshq/socket.io-redis' } });
      assert.equal(error.code, 'E_INVALID_CONFIG', `got ${error.code}: ${error.message.split('\n')[0]}`);
      assert.match(error.message, /sails\.config\.sockets\.adapter/);
      assert.match(error.message, /config\/rooms\.js/);
    });

    it("sails.config.sockets.adapter 'memory' (the documented default) lifts", async () => {
      const app = await liftFixture({ sockets: { adapter: 'memory' } });
      try {
        assert.equal(typeof app.hooks.rooms.leave, 'function');
        assert.deepEqual(await app.sockets.leave('connected-nowhere', 'room'), { matched: 0, servers: 1, notFound: ['connected-nowhere'], unreachable: [], unreachableServers: 0 });
      } finally {
        await lowerFixture(app);
      }
    });

    it('missing (hooks.sockets: false) fails the lift at once with E_SOCKETS_HOOK_MISSING, well before the 40 s hook timeout', async () => {
      const { error, ms } = await liftFailure({ hooks: { sockets: false } });
      assert.equal(error.code, 'E_SOCKETS_HOOK_MISSING', error.message);
      assert.match(error.message, /sails-hook-sockets/);
      assert.match(error.message, /hooks\.sockets/);
      assert.ok(ms < 5000, `took ${ms} ms`);
    });
  });

  describe('a valid configuration', () => {
    it("gets the defaults: adapter 'memory', confirm 'cluster', timeout 5000, key 'socket.io'", async () => {
      const app = await liftFixture({ rooms: {} });
      try {
        const { adapter, confirm, timeout, key, url, pubClient, subClient } = app.config.rooms;
        assert.deepEqual({ adapter, confirm, timeout, key }, { adapter: 'memory', confirm: 'cluster', timeout: 5000, key: 'socket.io' });
        assert.deepEqual([url, pubClient, subClient], [undefined, undefined, undefined]);
      } finally {
        await lowerFixture(app);
      }
    });

    it('keeps the values it was given', async () => {
      const app = await liftFixture({ rooms: { confirm: 'local', timeout: 250, key: 'my-app' } });
      try {
        const { adapter, confirm, timeout, key } = app.config.rooms;
        assert.deepEqual({ adapter, confirm, timeout, key }, { adapter: 'memory', confirm: 'local', timeout: 250, key: 'my-app' });
      } finally {
        await lowerFixture(app);
      }
    });
  });

  describe('after the failed lifts', () => {
    it('no server, socket or timer of those lifts is left open', async () => {
      await waitForResourcesBackTo(baseline, 10_000);
    });

    it('the app lifts again in the same process', async () => {
      const app = await liftFixture();
      try {
        assert.equal(app.config.rooms.adapter, 'memory');
      } finally {
        await lowerFixture(app);
      }
    });
  });
});
