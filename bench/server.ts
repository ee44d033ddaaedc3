/**
 * A bench server: the fixture Sails app in its own process, with sails-hook-rooms ("ours") or with
 * stock sails-hook-sockets and its documented Redis adapter ("stock"). The driver (run.ts) sends
 * it commands over IPC and gets each result back as the reply; times are on the shared clock.
 */
import type { Socket } from 'socket.io';
import { stockSocketsRecorder } from '../test/support/stock-sockets';
import { caseCommands } from './cases';
import { benchRoutes } from './cases/remote-latency';
import { commonCommands } from './support/server-commands';
import type { BenchServer, Commands, ServerSpec, SocketsMethods } from './support/server-context';

// The fixture is plain JS, as a Sails app is.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { liftFixture } = require('../fixtures/app/app.js');

interface Request { id: number; command: string; args: unknown }

const commands: Commands = { ...commonCommands, ...caseCommands };

function liftConfig(spec: ServerSpec, recorderHook: unknown): Record<string, unknown> {
  // Both flavors have the same routes, so that a request is routed at the same cost (the bench's
  // own route is only called on ours).
  const common = {
    log: { level: 'warn' },
    custom: { serverName: spec.name },
    hooks: { 'bench-stock-recorder': recorderHook },
    routes: benchRoutes,
  };
  if (spec.flavor === 'ours') {
    const rooms = spec.adapter === 'redis' ? { adapter: 'redis', url: spec.redisUrl } : { adapter: 'memory' };
    return { ...common, rooms };
  }
  // Stock Sails as its documentation configures it for several servers. sails-hook-sockets
  // requires the adapter from the app's node_modules, which the fixture has not: it takes the
  // module itself as `adapterModule`.
  const sockets = spec.adapter === 'redis'
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    ? { transports: ['websocket'], adapter: '@sailshq/socket.io-redis', adapterModule: require('@sailshq/socket.io-redis'), url: spec.redisUrl }
    : { transports: ['websocket'] };
  return { ...common, sockets, hooks: { ...common.hooks, rooms: false } };
}

async function main() {
  const spec = JSON.parse(process.env.BENCH_SERVER!) as ServerSpec;
  const recorder = stockSocketsRecorder();
  const sails = await liftFixture(liftConfig(spec, recorder.hook));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Socket: SocketClass } = require(require.resolve('socket.io', { paths: [require.resolve('sails-hook-sockets')] }));
  const server: BenchServer = {
    spec,
    sails,
    nsp: sails.io.of('/'),
    stock: recorder.methods() as unknown as SocketsMethods,
    socketPrototype: SocketClass.prototype as Socket,
  };

  const lower = () => new Promise<void>((resolve) => sails.lower(() => resolve()));
  process.on('message', (request: Request | 'stop') => {
    if (request === 'stop') {
      void lower().then(() => process.exit(0));
      return;
    }
    const command = commands[request.command];
    Promise.resolve()
      .then(() => {
        if (!command) throw new Error(`unknown bench command ${request.command}`);
        return command(server, request.args);
      })
      .then(
        (result) => process.send!({ id: request.id, ok: true, result }),
        (err: Error) => process.send!({ id: request.id, ok: false, error: err?.stack ?? String(err) }),
      );
  });
  // The driver is gone (crashed or killed): nobody will stop this server.
  process.on('disconnect', () => { void lower().then(() => process.exit(0)); });
  process.send!({ ready: true, port: sails.hooks.http.server.address().port });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
