/**
 * The Redis the soak's servers share, and the way the partitioned server reaches it, which the
 * partition cuts. Either one redis-server, that server behind a TCP proxy; or (`--failover`) a
 * Sentinel deployment of a primary, its replica and three sentinels (test/support/sentinel.ts),
 * which the servers reach with the hook's own Sentinel clients, that server through a view of
 * proxies before every sentinel and every Redis node (test/support/sentinel-view.ts).
 */
import { startProxy, type RedisProxy } from '../test/support/proxy';
import { startRedis, type TestRedis } from '../test/support/redis';
import { startSentinels, type TestSentinels } from '../test/support/sentinel';
import { startSentinelView, type SentinelView } from '../test/support/sentinel-view';

interface Common {
  /** The Redis that is the primary now: the cluster's record, Redis' clock and figures are read there. */
  primary(): TestRedis;
  /** The Redis part of a server's environment (soak/server-main.js); `partitioned`: the way the partition cuts. */
  serverEnv(partitioned: boolean): Record<string, string>;
  /** For the log. */
  describe(): string;
  /** Cuts the partitioned server's connections and refuses new ones, until heal(). */
  cut(): void;
  heal(): void;
  stop(): Promise<void>;
}

export interface PlainRedis extends Common {
  kind: 'plain';
  redis: TestRedis;
}

export interface SentinelRedis extends Common {
  kind: 'sentinel';
  topology: TestSentinels;
  /** The sentinels promoted the Redis on `port`. */
  promoted(port: number): void;
  /** The other Redis: the replica, or the primary the last switch replaced. */
  standby(): TestRedis;
}

export type SoakRedis = PlainRedis | SentinelRedis;

/** `partitionable`: the partitioned server gets a way to Redis that can be cut (only needed with the faults). */
export async function startSoakRedis({ failover, partitionable }: { failover: boolean; partitionable: boolean }): Promise<SoakRedis> {
  return failover ? startSentinelRedis(partitionable) : startPlainRedis(partitionable);
}

async function startPlainRedis(partitionable: boolean): Promise<PlainRedis> {
  const redis = await startRedis();
  let proxy: RedisProxy | undefined;
  try {
    if (partitionable) proxy = await startProxy(redis.port);
  } catch (err) {
    await redis.stop();
    throw err;
  }
  return {
    kind: 'plain',
    redis,
    primary: () => redis,
    serverEnv: (partitioned) => ({ REDIS_URL: partitioned && proxy ? proxy.url : redis.url }),
    describe: () => `redis on ${redis.port}${proxy ? ` (proxy on ${proxy.port})` : ''}`,
    cut: () => proxy?.cut(),
    heal: () => proxy?.heal(),
    async stop() {
      await proxy?.close();
      await redis.stop();
    },
  };
}

async function startSentinelRedis(partitionable: boolean): Promise<SentinelRedis> {
  const topology = await startSentinels();
  let view: SentinelView | undefined;
  try {
    if (partitionable) view = await startSentinelView(topology);
  } catch (err) {
    await topology.stop();
    throw err;
  }
  let current = topology.primary;
  let standby = topology.replica;
  const sentinelEnv = (nodes: TestSentinels['nodes']) => ({ REDIS_SENTINEL: JSON.stringify({ name: topology.name, nodes }) });
  return {
    kind: 'sentinel',
    topology,
    primary: () => current,
    standby: () => standby,
    promoted(port) {
      if (port !== standby.port) throw new Error(`the sentinels promoted the Redis on ${port}; the soak's replica is on ${standby.port}`);
      [current, standby] = [standby, current];
    },
    serverEnv: (partitioned) => sentinelEnv(partitioned && view ? view.nodes : topology.nodes),
    describe: () => `Redis behind Sentinel: primary on ${topology.primary.port}, replica on ${topology.replica.port}, sentinels on ${topology.nodes.map((node) => node.port).join(', ')}`
      + `${view ? ` (seen through proxies: sentinels on ${view.nodes.map((node) => node.port).join(', ')})` : ''}`,
    cut: () => view?.cut(),
    heal: () => view?.heal(),
    async stop() {
      await view?.close();
      await topology.stop();
    },
  };
}
