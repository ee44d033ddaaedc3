/**
 * What the servers and Redis hold, taken after the warm-up (the baseline), sampled each second of
 * the run (peaks), and at the end: heap, the hook's transport maps, timers, Redis subscriptions and
 * connections. Also each server's standing (member, holding, fenced), every 250 ms, for the report.
 */
import type { TestRedis } from '../test/support/redis';
import type { ServerState, SoakServer } from './cluster';

export interface RedisFigures {
  subscribers: number;
  minPerSubscriber: number;
  maxPerSubscriber: number;
  connections: number;
}

/**
 * Subscriptions per subscribed connection (each server has one), and connections, as Redis counts
 * them: the servers' only, not those of the sentinels (named sentinel-…) or of replication (flags S, M).
 */
export async function redisFigures(redis: TestRedis): Promise<RedisFigures> {
  const list = await redis.command<string>('CLIENT', 'LIST');
  const perSubscriber: number[] = [];
  let connections = 0;
  for (const line of list.trim().split('\n')) {
    if (/\bcmd=client\|list\b/.test(line)) continue; // the connection asking
    if (/\bname=sentinel-/.test(line) || /\bflags=\w*[SM]/.test(line)) continue;
    connections += 1;
    let subscriptions = 0;
    for (const match of line.matchAll(/\b(?:sub|psub|ssub)=(\d+)/g)) subscriptions += Number(match[1]);
    if (subscriptions > 0) perSubscriber.push(subscriptions);
  }
  return {
    subscribers: perSubscriber.length,
    minPerSubscriber: perSubscriber.length ? Math.min(...perSubscriber) : 0,
    maxPerSubscriber: perSubscriber.length ? Math.max(...perSubscriber) : 0,
    connections,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

export class ResourceWatch {
  /** Largest size seen of each transport map, per server: server name → map site → size. */
  readonly mapPeaks = new Map<string, Map<string, number>>();
  subscriptionsPeak: number;
  /** Per server, its standing (stats().standing) each time a sample found it changed, with when. */
  readonly standings = new Map<string, Array<{ at: number; standing: string }>>();
  private watching: Promise<void> | undefined;
  private running = false;

  constructor(
    /** Each server's state after the warm-up, with a full GC. */
    readonly baseline: ReadonlyMap<string, ServerState>,
    readonly redisStart: RedisFigures,
  ) {
    this.subscriptionsPeak = redisStart.maxPerSubscriber;
    for (const [name, state] of baseline) this.sampleMaps(name, state);
  }

  /** Takes the baseline: every server's state after a full GC, and the figures of the primary. */
  static async take(servers: readonly SoakServer[], primary: TestRedis): Promise<ResourceWatch> {
    const baseline = new Map<string, ServerState>();
    for (const server of servers) baseline.set(server.name, await server.state('?gc=1'));
    return new ResourceWatch(baseline, await redisFigures(primary));
  }

  sampleMaps(server: string, state: ServerState): void {
    const peaks = this.mapPeaks.get(server) ?? new Map<string, number>();
    for (const map of state.maps) peaks.set(map.site, Math.max(peaks.get(map.site) ?? 0, map.size ?? 0));
    this.mapPeaks.set(server, peaks);
  }

  /**
   * Samples the subscriptions on the primary of the moment and the live servers' maps every second,
   * and their standings every 250 ms, until stop(). Each in its own loop: a killed Redis is asked
   * until it is back (its connection waits), and the servers' samples go on meanwhile.
   */
  start(primary: () => TestRedis, liveServers: () => SoakServer[]): void {
    this.running = true;
    const every = async (intervalMs: number, sample: () => Promise<void>) => {
      while (this.running) {
        // A sampling interval, not a wait for anything.
        await sleep(intervalMs);
        await sample();
      }
    };
    this.watching = Promise.all([
      every(1000, async () => {
        const figures = await redisFigures(primary()).catch(() => null);
        if (figures) this.subscriptionsPeak = Math.max(this.subscriptionsPeak, figures.maxPerSubscriber);
      }),
      every(1000, async () => {
        await Promise.all(liveServers().map(async (server) => {
          const state = await server.state().catch(() => null);
          if (state) this.sampleMaps(server.name, state);
        }));
      }),
      every(250, async () => {
        await Promise.all(liveServers().map(async (server) => {
          const stats = await server.call<{ standing?: string }>('GET', '/rooms/stats', undefined, 5000);
          if (stats.status === 200 && stats.body.standing) this.sampleStanding(server.name, stats.body.standing);
        }));
      }),
    ]).then(() => undefined);
  }

  private sampleStanding(server: string, standing: string): void {
    const changes = this.standings.get(server) ?? [];
    if (changes[changes.length - 1]?.standing !== standing) changes.push({ at: performance.now(), standing });
    this.standings.set(server, changes);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.watching;
  }
}
