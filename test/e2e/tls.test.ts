/**
 * Redis over TLS (`rediss://` and `sails.config.rooms.tls`): servers lift and work as a cluster
 * with the CA of Redis' certificate, and with a client certificate where Redis demands one. A
 * certificate that does not verify, or a client certificate missing or refused, fails the lift at
 * once with E_UNAVAILABLE naming the TLS problem and the setting to change (node-redis alone
 * would retry it until the timeout), and leaves nothing open.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { connectRaw, type TestClient } from '../support/clients';
import { assertHealthy, launch, stopCluster, type TestServer } from '../support/cluster';
import { nextEvent, record, waitFor } from '../support/events';
import { liftFixture, lowerFixture, urlOf, type SailsTestApp } from '../support/fixture';
import { startChild } from '../support/processes';
import { connectionCount } from '../support/redis-inspect';
import { activeResourceCounts, waitForResourcesBackTo } from '../support/resources';
import { connectionPorts, makeCertificates, startTlsRedis, type TestCertificates, type TestTlsRedis } from '../support/tls';

const APP = path.resolve(__dirname, '../../fixtures/app/app.js');
/**
 * The hooks of the lifts that fail: Sails lowers an app at once when a hook fails, and
 * sails-hook-orm, still loading the fixture's models then, throws an uncaught TypeError on its
 * torn-down datastores. These lifts go without it.
 */
const WITHOUT_ORM = { orm: false };
/** A process that lifts the fixture with ROOMS_CONFIG, without the ORM, and prints the lift's error. */
const LIFT_IN_A_PROCESS = `
  const { liftFixture, lowerFixture } = require(${JSON.stringify(APP)});
  liftFixture({ log: { level: 'warn' }, hooks: ${JSON.stringify(WITHOUT_ORM)}, rooms: JSON.parse(process.env.ROOMS_CONFIG) })
    .then(lowerFixture, (err) => { console.error(err); process.exitCode = 1; });
`;
/** The `timeout` of the lifts that must fail: a failure that waited for it could not come in time. */
const LIFT_TIMEOUT_MS = 20_000;
/** A TLS failure must end an in-process lift this soon. */
const FAIL_WITHIN_MS = 3000;
/** A process whose lift fails must exit this soon (Sails itself takes a few seconds to load). */
const EXIT_WITHIN_MS = 10_000;

type FunMessage = { roomName: string; data: unknown; server: string };

/** Lifts the fixture in this process expecting failure; resolves with the error and how long it took. */
async function liftFailure(rooms: Record<string, unknown>): Promise<{ error: Error & { code?: string }; ms: number }> {
  const started = Date.now();
  let app: SailsTestApp | undefined;
  try {
    app = await liftFixture({ rooms, hooks: WITHOUT_ORM });
  } catch (error) {
    return { error: error as Error & { code?: string }, ms: Date.now() - started };
  }
  await lowerFixture(app);
  return assert.fail('sails.lift() succeeded');
}

describe('Redis over TLS', function () {
  this.timeout(60_000);
  let certs: TestCertificates;
  let redis: TestTlsRedis;
  /** Demands a client certificate signed by the CA (tls-auth-clients yes). */
  let mutualRedis: TestTlsRedis;

  before(async () => {
    certs = await makeCertificates();
    [redis, mutualRedis] = await Promise.all([startTlsRedis(certs, { authClients: false }), startTlsRedis(certs, { authClients: true })]);
  });
  after(async () => {
    await Promise.all([redis?.stop(), mutualRedis?.stop()]);
    await certs?.remove();
  });

  describe("two servers on rediss:// with the CA of Redis' certificate (one in this process, one in its own)", () => {
    let app: SailsTestApp;
    let other: TestServer;
    let onOther: TestClient;
    let onApp: TestClient;
    let idOnOther: string;
    let idOnApp: string;

    before(async () => {
      // PEM as a string here; the other server reads Buffers from the files (fixtures/app/app.js).
      app = await liftFixture({ rooms: { adapter: 'redis', url: redis.tlsUrl, tls: { ca: certs.ca.cert } } });
      other = await launch('tls-other', { ROOMS_ADAPTER: 'redis', REDIS_URL: redis.tlsUrl, ROOMS_TLS_CA: certs.ca.certFile });
      onOther = await connectRaw(other.url);
      onApp = await connectRaw(urlOf(app));
      idOnOther = await onOther.socketId();
      idOnApp = await onApp.socketId();
    });
    after(async () => {
      onOther?.disconnect();
      onApp?.disconnect();
      if (other) await stopCluster([other]);
      if (app) await lowerFixture(app);
    });

    it('delivers a broadcast to a socket on the other server, confirms its leave by socket ID, and delivers nothing after', async () => {
      const joined = await app.sockets.join(idOnOther, 'fun');
      assert.deepEqual([joined.matched, joined.notFound], [1, []]);
      const delivered = nextEvent(onOther, 'fun');
      app.sockets.broadcast('fun', 'fun', { n: 1 });
      assert.deepEqual(await delivered, { n: 1 });

      const left = await app.sockets.leave(idOnOther, 'fun');
      assert.deepEqual([left.matched, left.servers, left.notFound], [1, 2, []]);
      const late = record(onOther, 'fun');
      app.sockets.broadcast('fun', 'fun', { n: 2 });
      // Sent after it, to the socket's own room: it arrives after anything broadcast before.
      const sentinel = nextEvent(onOther, 'sentinel');
      app.sockets.broadcast(idOnOther, 'sentinel', {});
      await sentinel;
      late.stop();
      assert.deepEqual(late.received, [], 'a broadcast reached the socket after its leave was confirmed');
    });

    it('works the other way too: the other server joins and leaves a socket of this one, by ID, confirmed', async () => {
      const announced = nextEvent<FunMessage>(onApp, 'fun');
      const joined = await other.post('/rooms/add-socket', { socketId: idOnApp, roomName: 'fun-back', announce: 'hello' });
      assert.equal(joined.body.matched, 1);
      assert.deepEqual(await announced, { roomName: 'fun-back', data: 'hello', server: 'tls-other' });
      const left = await other.post('/rooms/remove-socket', { socketId: idOnApp, roomName: 'fun-back' });
      assert.deepEqual([left.status, left.body.matched, left.body.servers, left.body.notFound], [200, 1, 2, []]);
      assert.deepEqual(await app.hooks.rooms.roomsOf(idOnApp), []);
      assertHealthy(other);
    });

    it("reaches Redis only through its TLS port: every connection but the test's own is on it", async () => {
      const ports = await connectionPorts(redis);
      assert.deepEqual(ports.filter((port) => port !== redis.tlsPort), [redis.port], `ports: ${ports.join(', ')}`);
      // Each server has at least its publishing and its subscribing connection.
      assert.ok(ports.length - 1 >= 4, `only ${ports.length - 1} connection(s) on the TLS port`);
    });
  });

  describe("a managed service's URL: rediss://user:password@host:port, the CA in the system's store, an ACL user with the README's rights", () => {
    it('two servers lift from the URL alone, and confirm a leave by socket ID across them; Redis refused nothing', async () => {
      const readme = await readFile(path.resolve(__dirname, '../../README.md'), 'utf8');
      const rights = /^ACL SETUSER rooms on >password (.+)$/m.exec(readme)![1]!.split(' ');
      await redis.command('ACL', 'SETUSER', 'rooms', 'reset', 'on', '>managed-s3cret', 'resetchannels', ...rights);
      await redis.command('ACL', 'LOG', 'RESET');
      // As a managed service's certificate verifies against the system's CAs: here the test's CA is added to them.
      const env = { ROOMS_ADAPTER: 'redis', REDIS_URL: `rediss://rooms:managed-s3cret@127.0.0.1:${redis.tlsPort}`, NODE_EXTRA_CA_CERTS: certs.ca.certFile };
      const servers = await Promise.all(['managed-a', 'managed-b'].map((name) => launch(name, env)));
      const client = await connectRaw(servers[1]!.url);
      try {
        const socketId = await client.socketId();
        const joined = await servers[0]!.post('/rooms/add-socket', { socketId, roomName: 'fun' });
        assert.deepEqual([joined.status, joined.body.matched], [200, 1], JSON.stringify(joined.body));
        const left = await servers[0]!.post('/rooms/remove-socket', { socketId, roomName: 'fun' });
        assert.deepEqual([left.status, left.body.matched, left.body.notFound], [200, 1, []], JSON.stringify(left.body));
        assert.deepEqual(await redis.command('ACL', 'LOG'), [], 'nothing was refused');
        const users = (await redis.command<string>('CLIENT', 'LIST')).split('\n').filter((line) => / laddr=\S+:(\d+) /.exec(line)?.[1] === String(redis.tlsPort));
        assert.ok(users.length >= 4 && users.every((line) => / user=rooms /.test(line)), users.join('\n'));
        servers.forEach(assertHealthy);
      } finally {
        client.disconnect();
        await stopCluster(servers);
      }
    });
  });

  describe('a Redis that demands client certificates (tls-auth-clients yes)', () => {
    it('lifts with tls.cert and tls.key, and answers a cluster operation', async () => {
      const { ca, otherCa, client } = certs;
      // ca as an array: the CA that signed Redis' certificate among others.
      const tls = { ca: [otherCa.cert, ca.cert], cert: client.cert, key: client.key };
      const app = await liftFixture({ rooms: { adapter: 'redis', url: mutualRedis.tlsUrl, tls } });
      try {
        assert.equal(app.hooks.rooms.stats().redis, 'up');
        assert.deepEqual(await app.sockets.leave('connected-nowhere', 'room'), { matched: 0, servers: 1, notFound: ['connected-nowhere'], unreachable: [], unreachableServers: 0 });
      } finally {
        await lowerFixture(app);
      }
    });

    const failures = [
      { title: 'without a client certificate', tls: () => ({ ca: certs.ca.cert }), names: /tlsv13 alert certificate required \(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED\): Redis requires a client certificate \(tls-auth-clients\); set sails\.config\.rooms\.tls\.cert and tls\.key/ },
      { title: 'with a client certificate of a CA Redis does not trust', tls: () => ({ ca: certs.ca.cert, cert: certs.strangerClient.cert, key: certs.strangerClient.key }), names: /alert unknown ca \(ERR_SSL_TLSV1_ALERT_UNKNOWN_CA\): Redis refused the client certificate; sails\.config\.rooms\.tls\.cert must be signed by a CA in Redis' tls-ca-cert-file/ },
    ];
    for (const { title, tls, names } of failures) {
      it(`fails the lift at once ${title}, with E_UNAVAILABLE naming the problem and the fix`, async () => {
        const connections = await connectionCount(mutualRedis);
        // Taken once the test awaited: mocha arms its timer for the test by then.
        const baseline = activeResourceCounts();
        const { error, ms } = await liftFailure({ adapter: 'redis', url: mutualRedis.tlsUrl, timeout: LIFT_TIMEOUT_MS, tls: tls() });
        assert.equal(error.code, 'E_UNAVAILABLE', error.message);
        assert.match(error.message, new RegExp(`could not connect to Redis at rediss://127\\.0\\.0\\.1:${mutualRedis.tlsPort} over TLS: `));
        assert.match(error.message, names);
        assert.ok(ms < FAIL_WITHIN_MS, `took ${ms} ms`);
        await waitForResourcesBackTo(baseline);
        await waitFor(async () => await connectionCount(mutualRedis) === connections, 'its Redis connections to be gone');
      });
    }
  });

  describe("a certificate of Redis' that does not verify fails the lift at once with E_UNAVAILABLE naming the TLS problem", () => {
    const cases = [
      { title: 'tls.ca of another CA', tls: () => ({ ca: certs.otherCa.cert }), names: /self-signed certificate in certificate chain \(SELF_SIGNED_CERT_IN_CHAIN\): Redis' certificate does not verify; set sails\.config\.rooms\.tls\.ca/ },
      { title: "no tls at all (the system's CAs)", tls: () => undefined, names: /self-signed certificate in certificate chain \(SELF_SIGNED_CERT_IN_CHAIN\): Redis' certificate does not verify; set sails\.config\.rooms\.tls\.ca/ },
      { title: 'a certificate for another host name (tls.servername)', tls: () => ({ ca: certs.ca.cert, servername: 'redis.example.com' }), names: /Hostname\/IP does not match certificate's altnames: Host: redis\.example\.com\. .*\(ERR_TLS_CERT_ALTNAME_INVALID\): Redis' certificate is for another host; .*tls\.servername/ },
    ];
    for (const { title, tls, names } of cases) {
      it(title, async () => {
        const connections = await connectionCount(redis);
        // Taken once the test awaited: mocha arms its timer for the test by then.
        const baseline = activeResourceCounts();
        const { error, ms } = await liftFailure({ adapter: 'redis', url: redis.tlsUrl, timeout: LIFT_TIMEOUT_MS, ...(tls() ? { tls: tls() } : {}) });
        assert.equal(error.code, 'E_UNAVAILABLE', error.message);
        assert.match(error.message, new RegExp(`could not connect to Redis at rediss://127\\.0\\.0\\.1:${redis.tlsPort} over TLS: `));
        assert.match(error.message, names);
        assert.ok(ms < FAIL_WITHIN_MS, `took ${ms} ms`);
        await waitForResourcesBackTo(baseline);
        await waitFor(async () => await connectionCount(redis) === connections, 'its Redis connections to be gone');
      });
    }

    it('in a process of its own, which then exits by itself (nothing left open), well before the timeout', async () => {
      const started = Date.now();
      const rooms = { adapter: 'redis', url: redis.tlsUrl, timeout: LIFT_TIMEOUT_MS, tls: { ca: certs.otherCa.cert } };
      const child = startChild(process.execPath, ['-e', LIFT_IN_A_PROCESS], {
        name: 'tls-wrong-ca',
        env: { ...process.env, ROOMS_CONFIG: JSON.stringify(rooms) },
      });
      const killer = setTimeout(() => child.process.kill('SIGKILL'), LIFT_TIMEOUT_MS);
      const [code, signal] = await once(child.process, 'exit') as [number | null, string | null];
      clearTimeout(killer);
      const ms = Date.now() - started;
      assert.equal(signal, null, `killed after ${ms} ms: the process did not exit by itself:\n${child.output()}`);
      assert.equal(code, 1, child.output());
      assert.ok(ms < EXIT_WITHIN_MS, `exited after ${ms} ms`);
      assert.match(child.output(), /RoomsError \[E_UNAVAILABLE\]: sails-hook-rooms could not connect to Redis at rediss:\/\/127\.0\.0\.1:\d+ over TLS: self-signed certificate in certificate chain/);
      assert.doesNotMatch(child.output(), /unhandled/i);
    });
  });

  describe('tls.rejectUnauthorized: false', () => {
    it('lifts whatever the certificate (for tests only)', async () => {
      const app = await liftFixture({ rooms: { adapter: 'redis', url: redis.tlsUrl, tls: { ca: certs.otherCa.cert, rejectUnauthorized: false } } });
      try {
        assert.equal(app.hooks.rooms.stats().redis, 'up');
      } finally {
        await lowerFixture(app);
      }
    });
  });

  describe('a rediss:// url whose port serves no TLS', () => {
    it('fails the lift within the timeout, saying to check TLS on that port', async () => {
      // The plain port of Redis: it waits for a command line that the TLS handshake never sends.
      const { error, ms } = await liftFailure({ adapter: 'redis', url: `rediss://127.0.0.1:${redis.port}`, timeout: 1000 });
      assert.equal(error.code, 'E_UNAVAILABLE', error.message);
      assert.match(error.message, /could not reach Redis at rediss:\/\/127\.0\.0\.1:\d+ within 1000 ms.*: check sails\.config\.rooms\.url and that Redis is running, with TLS on that port\./);
      assert.ok(ms < 1000 + FAIL_WITHIN_MS, `took ${ms} ms`);
    });
  });
});
