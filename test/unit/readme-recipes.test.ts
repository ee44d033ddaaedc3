/**
 * The README's Redis Cluster recipe is the configuration the failover tests run with
 * (fixtures/redis-cluster.js): its options, evaluated as an app would, against the fixture's.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import vm from 'node:vm';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { clusterOptions } = require('../../fixtures/redis-cluster') as { clusterOptions(urls: string[]): ClusterOptions };

interface ClusterOptions {
  rootNodes: Array<{ url: string }>;
  defaults: { disableOfflineQueue: boolean; socket: { connectTimeout: number; reconnectStrategy(retries: number): number } };
  topologyRefreshOnReconnectionAttemptStrategy: number;
}

/** The `const options = { … };` of the README's "Redis Cluster" section, evaluated with `env` as process.env. */
async function readmeClusterOptions(env: Record<string, string>): Promise<ClusterOptions> {
  const readme = await readFile(path.resolve(__dirname, '../../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n### Redis Cluster\n'));
  const source = /^const options = (\{[\s\S]*?^\});$/m.exec(section)?.[1];
  assert.ok(source, "the README's Redis Cluster section declares `const options`");
  return vm.runInNewContext(`(${source})`, { process: { env } }) as ClusterOptions;
}

describe("README's Redis Cluster recipe", () => {
  it("has the failover tests' options: root nodes from REDIS_CLUSTER_URL, offline queue off, the same timeouts and back-off", async () => {
    const urls = ['redis://127.0.0.1:7000', 'redis://127.0.0.1:7001'];
    const readme = await readmeClusterOptions({ REDIS_CLUSTER_URL: urls.join(',') });
    const tested = clusterOptions(urls);
    // Compared as data; the back-off, by what it returns.
    assert.deepEqual(JSON.parse(JSON.stringify(readme)), JSON.parse(JSON.stringify(tested)));
    const backOff = (options: ClusterOptions) => Array.from({ length: 12 }, (_, retries) => options.defaults.socket.reconnectStrategy(retries));
    assert.deepEqual(backOff(readme), backOff(tested));
  });
});
