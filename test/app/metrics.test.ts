/**
 * Prometheus metrics through prom-client, read as Prometheus reads them (the registry's text
 * output): names and labels by Prometheus conventions, bounded label values, buckets from 50 µs,
 * and removed on lower so that the app lifts again in the same process.
 */
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { connectRaw, type TestClient } from '../support/clients';
import { liftFixture, lowerFixture, urlOf, type SailsTestApp } from '../support/fixture';

/** The value of one series in the text output, or undefined. */
function valueOf(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('Prometheus metrics', function () {
  this.timeout(30_000);

  describe('with metrics: { registry } on one server', () => {
    const registry = new Registry();
    let app: SailsTestApp;
    let client: TestClient;
    let socketId: string;

    before(async () => {
      app = await liftFixture({ rooms: { adapter: 'memory', metrics: { registry } } });
      client = await connectRaw(urlOf(app));
      socketId = await client.socketId();
    });

    after(async () => {
      client?.disconnect();
      if (app) await lowerFixture(app);
    });

    it('counts operations by operation and outcome, as read at scrape time', async () => {
      await app.sockets.join(socketId, 'metrics-room');
      await app.sockets.leave(socketId, 'metrics-room');
      await app.sockets.leave(socketId, 'metrics-room');
      await app.sockets.leave([socketId, 'made-up-id'], 'metrics-room');
      await assert.rejects(app.hooks.rooms.join(socketId, ''), { code: 'E_INVALID_ROOM' });
      const text = await registry.metrics();
      assert.equal(valueOf(text, 'sails_rooms_operations_total{operation="join",outcome="ok"}'), 1, text);
      assert.equal(valueOf(text, 'sails_rooms_operations_total{operation="leave",outcome="ok"}'), 2);
      assert.equal(valueOf(text, 'sails_rooms_operations_total{operation="leave",outcome="notFound"}'), 1);
      assert.equal(valueOf(text, 'sails_rooms_operations_total{operation="join",outcome="E_INVALID_ROOM"}'), 1);
      assert.match(text, /# TYPE sails_rooms_operations_total counter/);
      // Scraped again: the same totals, not doubled.
      assert.equal(valueOf(await registry.metrics(), 'sails_rooms_operations_total{operation="leave",outcome="ok"}'), 2);
    });

    it('has gauges for peers, fencing, pending requests and sockets, and no Redis gauge with the memory adapter', async () => {
      const text = await registry.metrics();
      assert.equal(valueOf(text, 'sails_rooms_peers{state="member"}'), 0);
      assert.equal(valueOf(text, 'sails_rooms_peers{state="fenced"}'), 0);
      assert.equal(valueOf(text, 'sails_rooms_fenced'), 0);
      assert.equal(valueOf(text, 'sails_rooms_pending_requests'), 0);
      assert.equal(valueOf(text, 'sails_rooms_sockets'), 1);
      assert.doesNotMatch(text, /sails_rooms_redis_up/);
    });

    it('has a confirm histogram whose buckets start at 50 µs', async () => {
      const text = await registry.metrics();
      assert.match(text, /# TYPE sails_rooms_confirm_duration_seconds histogram/);
      const histogram = await registry.getSingleMetricAsString('sails_rooms_confirm_duration_seconds');
      assert.match(histogram, /# HELP sails_rooms_confirm_duration_seconds /);
      const metric = registry.getSingleMetric('sails_rooms_confirm_duration_seconds') as unknown as { upperBounds: number[] };
      assert.equal(metric.upperBounds[0], 0.00005);
    });

    it('names no room, socket or server in any label', async () => {
      const text = await registry.metrics();
      assert.ok(!text.includes('metrics-room') && !text.includes(socketId) && !text.includes(app.hooks.rooms.stats().id), text);
      const labelNames = new Set([...text.matchAll(/[{,](\w+)="/g)].map((m) => m[1]));
      assert.deepEqual([...labelNames].sort(), ['operation', 'outcome', 'state']);
    });

    it('a second app on the same registry in the same process fails its lift with E_INVALID_CONFIG, naming the fix', async () => {
      await assert.rejects(liftFixture({ rooms: { adapter: 'memory', metrics: { registry } } }), (err: NodeJS.ErrnoException) => {
        assert.equal(err.code, 'E_INVALID_CONFIG');
        assert.match(err.message, /already has a metric named sails_rooms_operations_total: .*give each app a Registry of its own/);
        return true;
      });
    });
  });

  it('lowering removes the metrics, so the app lifts again on the same registry in the same process', async () => {
    const registry = new Registry();
    for (let round = 0; round < 2; round++) {
      const app = await liftFixture({ rooms: { adapter: 'memory', metrics: { registry } } });
      try {
        assert.notEqual(registry.getSingleMetric('sails_rooms_operations_total'), undefined, `round ${round}`);
      } finally {
        await lowerFixture(app);
      }
      assert.deepEqual(registry.getMetricsAsArray(), [], 'nothing of the hook left in the registry');
    }
  });

  it('metrics without a prom-client Registry fails the lift with E_INVALID_CONFIG', async () => {
    await assert.rejects(liftFixture({ rooms: { adapter: 'memory', metrics: { registry: {} } } }), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'E_INVALID_CONFIG');
      assert.match(err.message, /sails\.config\.rooms\.metrics is an object: use \{ registry \} with a prom-client Registry/);
      return true;
    });
  });
});
