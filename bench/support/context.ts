/** What the driver gives every case: the Redis servers and the bench servers already running. */
import type { TestRedis } from '../../test/support/redis';
import type { ServerHandle } from './servers';
import type { ServerSpec } from './server-context';

export interface BenchContext {
  /** The Redis of sails-hook-rooms' cluster, and the one of the stock cluster. */
  redis: { ours: TestRedis; stock: TestRedis };
  /** Servers A and B with sails-hook-rooms on Redis. */
  ours: ServerHandle[];
  /** Servers A' and B' with stock sails-hook-sockets and @sailshq/socket.io-redis. */
  stock: ServerHandle[];
  /** Starts another server, stopped with the others at the end of the run. */
  start(spec: ServerSpec): Promise<ServerHandle>;
  log(message: string): void;
}
