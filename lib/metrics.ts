/**
 * Prometheus metrics through prom-client (an optional peer), into the registry the app gives in
 * `sails.config.rooms.metrics`. Counts and gauges are read from stats() when Prometheus scrapes,
 * so the hot path pays nothing for them; only a confirm latency is observed as it happens.
 * No label names a room, a socket or a server: the number of series stays bounded.
 */
import type { Registry } from 'prom-client';
import { RoomsError } from './errors';
import { OPERATION_NAMES, type OperationStats } from './stats';
import type { PrometheusRegistryLike, RoomsStats } from './types';

/** From 50 µs, the fastest confirm measured, to the default timeout. */
const CONFIRM_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

type PromClient = typeof import('prom-client');

const METRIC_NAMES = [
  'sails_rooms_operations_total', 'sails_rooms_confirm_duration_seconds', 'sails_rooms_peers',
  'sails_rooms_redis_up', 'sails_rooms_fenced', 'sails_rooms_pending_requests', 'sails_rooms_sockets',
];

function loadPromClient(): PromClient {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('prom-client') as PromClient;
  } catch (err) {
    throw new RoomsError('E_INVALID_CONFIG', 'sails.config.rooms.metrics is set, but prom-client cannot be loaded: `npm install prom-client` in the app (config/rooms.js).', { cause: err });
  }
}

const taken = (registry: PrometheusRegistryLike, name: string) => registry.getSingleMetric(name) !== undefined;

/** Throws E_INVALID_CONFIG, before the lift opens anything, if the metrics cannot be registered. */
export function assertMetricsPossible(registry: PrometheusRegistryLike): void {
  loadPromClient();
  const clash = METRIC_NAMES.find((name) => taken(registry, name));
  if (clash) {
    throw new RoomsError('E_INVALID_CONFIG', `sails.config.rooms.metrics.registry already has a metric named ${clash}: `
      + 'another app lifted in this process registered it and is still up; give each app a Registry of its own (config/rooms.js).');
  }
}

/** Registers the hook's metrics in `registry`; returns how to remove them (on lower). */
export function registerMetrics(registry: PrometheusRegistryLike, operations: OperationStats, stats: () => RoomsStats): () => void {
  const { Counter, Gauge, Histogram } = loadPromClient();
  const registers = [registry as unknown as Registry];
  let snapshot: RoomsStats | undefined;
  /** One stats() per scrape, however many gauges read it. */
  const current = () => {
    if (!snapshot) {
      snapshot = stats();
      queueMicrotask(() => { snapshot = undefined; });
    }
    return snapshot;
  };

  new Counter({
    name: 'sails_rooms_operations_total',
    help: 'Room operations (sails.sockets.join/leave/…, sails.hooks.rooms queries) by how they ended: ok, notFound, unreachable, or the error code.',
    labelNames: ['operation', 'outcome'],
    registers,
    collect() {
      this.reset();
      for (const operation of OPERATION_NAMES) {
        for (const [outcome, count] of Object.entries(operations.outcomesOf(operation))) this.inc({ operation, outcome }, count);
      }
    },
  });
  const confirms = new Histogram({
    name: 'sails_rooms_confirm_duration_seconds',
    help: 'From the call to the answer, for the operations that waited for other servers and succeeded.',
    labelNames: ['operation'],
    buckets: CONFIRM_BUCKETS,
    registers,
  });
  const stopObserving = operations.observeConfirms((operation, seconds) => confirms.observe({ operation }, seconds));
  new Gauge({
    name: 'sails_rooms_peers',
    help: 'The other servers this one knows, by state: member, or fenced (cut off from the cluster).',
    labelNames: ['state'],
    registers,
    collect() {
      const { peers } = current();
      this.set({ state: 'member' }, peers.filter((peer) => !peer.fenced).length);
      this.set({ state: 'fenced' }, peers.filter((peer) => peer.fenced).length);
    },
  });
  if (stats().adapter !== 'memory') {
    new Gauge({
      name: 'sails_rooms_redis_up',
      help: "1 when both of the hook's connections to Redis are up, else 0.",
      registers,
      collect() { this.set(current().redis === 'up' ? 1 : 0); },
    });
  }
  new Gauge({
    name: 'sails_rooms_fenced',
    help: '1 while this server is not a member of the cluster (holding, or fenced): cluster operations fail with E_UNAVAILABLE.',
    registers,
    collect() { this.set(current().fenced ? 1 : 0); },
  });
  new Gauge({
    name: 'sails_rooms_pending_requests',
    help: "Requests waiting for other servers' answers.",
    registers,
    collect() { this.set(current().pending); },
  });
  new Gauge({
    name: 'sails_rooms_sockets',
    help: 'Sockets connected to this server.',
    registers,
    collect() { this.set(current().sockets); },
  });

  return () => {
    stopObserving();
    // Those that were not taken when it lifted are the hook's.
    for (const name of METRIC_NAMES) if (taken(registry, name)) registry.removeSingleMetric(name);
  };
}
