/**
 * `npm run cluster` as a test runs it: fixtures/cluster.js on free ports, with its own
 * redis-server (unless REDIS_URL) and fault controls. Its stop tells whether cluster.js left
 * anything behind, and sweeps it if it did: cluster.js runs in a process group of its own, with
 * the servers; its redis-server, in a group of its own (so that a Ctrl-C reaches it last), is
 * known by its port.
 */
import net from 'node:net';
import path from 'node:path';
import { createClient } from 'redis';
import { startChild, type Child } from './processes';

const CLUSTER_JS = path.resolve(__dirname, '../../fixtures/cluster.js');
const START_TIMEOUT_MS = 60_000;

export interface DemoCluster {
  child: Child;
  /** The servers as the banner lists them, e.g. server-1 → http://127.0.0.1:… */
  servers: Record<string, string>;
  controlUrl: string;
  /**
   * SIGTERMs cluster.js and waits for it to exit; resolves with what was still running then
   * (and has been stopped since), which should be nothing.
   */
  stop(): Promise<string[]>;
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

async function shutDownRedis(port: number): Promise<void> {
  const client = createClient({ url: `redis://127.0.0.1:${port}` });
  client.on('error', () => {});
  await client.connect();
  // The server closes the connection as it exits: no reply comes.
  await client.sendCommand(['SHUTDOWN', 'NOSAVE']).catch(() => {});
  client.destroy();
}

export async function startDemoCluster(env: Record<string, string> = {}): Promise<DemoCluster> {
  const { REDIS_URL: _notOurs, ...testEnv } = process.env;
  const child = startChild(process.execPath, [CLUSTER_JS], {
    detached: true,
    env: { ...testEnv, PORT: '0', LOG_LEVEL: 'warn', NODE_OPTIONS: '--unhandled-rejections=strict', ...env },
  });
  const pgid = child.process.pid!;
  const ports = new Set<number>();
  let redisPort: number | undefined;
  let stopped: Promise<string[]> | undefined;
  const stop = () => stopped ??= (async () => {
    // Killed if it takes more than 5 s: then what it started is left, and swept below.
    await child.stop('SIGTERM');
    const left: string[] = [];
    if (child.process.signalCode === 'SIGKILL') left.push('cluster.js did not stop within 5 s of SIGTERM');
    if (groupAlive(pgid)) {
      left.push(`processes of its group ${pgid}`);
      process.kill(-pgid, 'SIGKILL');
    }
    if (redisPort !== undefined && await listening(redisPort)) {
      left.push(`its redis-server on port ${redisPort}`);
      await shutDownRedis(redisPort);
    }
    for (const port of ports) if (await listening(port)) left.push(`a server on port ${port}`);
    return left;
  })();

  try {
    const [banner] = await child.waitForOutput(/Three servers: .*\n[^]*Control: http:\/\/\S+/, START_TIMEOUT_MS);
    const servers = Object.fromEntries([...banner.matchAll(/(server-\d+) (http:\/\/127\.0\.0\.1:(\d+))/g)].map((match) => {
      ports.add(Number(match[3]));
      return [match[1]!, match[2]!];
    }));
    const controlUrl = banner.match(/Control: (http:\/\/127\.0\.0\.1:(\d+))/)!;
    ports.add(Number(controlUrl[2]));
    const ownRedis = banner.match(/Redis: redis:\/\/127\.0\.0\.1:(\d+) \(this cluster's own\)/);
    if (ownRedis) redisPort = Number(ownRedis[1]);
    return { child, servers, controlUrl: controlUrl[1]!, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
