import { randomBytes } from 'node:crypto';
import { DEFAULTS, maskUrl, resolveConfig, type ResolvedRoomsConfig } from './config';
import * as errors from './errors';
import { assertMetricsPossible, registerMetrics } from './metrics';
import { RoomManager } from './room-manager';
import type { HookContext, SailsApp } from './sails';
import { createRoomsApi, type RoomsApi } from './sockets-api';
import { OperationStats } from './stats';
import { createTransport } from './transport';
import { describeSentinels } from './transport/redis/sentinel';
import { LEAVE_MS, type ClusterTransport } from './transport/transport';
import type * as types from './types';

const { RoomsError } = errors;

/** The methods this hook puts on `sails.sockets`; the others stay sails-hook-sockets' own. */
const SOCKETS_METHODS = ['leave', 'join', 'leaveAll', 'addRoomMembersToRooms', 'removeRoomMembersFromRooms'] as const;

function assertSocketsHookPresent(sails: SailsApp): void {
  if (sails.hooks.sockets) return;
  throw new RoomsError(
    'E_SOCKETS_HOOK_MISSING',
    'sails-hook-rooms needs the sockets hook, which is missing or disabled: `npm install sails-hook-sockets` '
      + 'in the app (it must be in its package.json), and do not set sails.config.hooks.sockets to false.',
  );
}

function assertNoSocketsAdapter(sails: SailsApp): void {
  const adapter = sails.config.sockets?.adapter;
  // sails-hook-sockets' own configure() turns 'memory' into null.
  if (adapter === undefined || adapter === null || adapter === 'memory') return;
  throw new RoomsError(
    'E_INVALID_CONFIG',
    `sails.config.sockets.adapter is ${errors.describeValue(adapter)}, but sails-hook-rooms attaches the socket.io adapter itself: `
      + "remove adapter (and its Redis settings) from config/sockets.js and set adapter: 'redis' with url in config/rooms.js.",
  );
}

/** Puts the room operations on `sails.sockets`; returns how to put the originals back. */
function installOnSockets(sockets: Record<string, unknown>, api: RoomsApi): () => void {
  const originals = SOCKETS_METHODS.map((name) => [name, sockets[name]] as const);
  for (const name of SOCKETS_METHODS) sockets[name] = api[name];
  return () => {
    for (const [name, original] of originals) sockets[name] = original;
  };
}

/**
 * Resolves once sails-hook-orm has loaded, or after `ms`. Sails lowers the app as soon as a hook
 * fails, and an ORM still loading then crashes the process (waterline reads a datastore already
 * torn down): a failed lift is reported once the ORM is done.
 */
function ormLoaded(sails: SailsApp, ms: number): Promise<void> {
  if (!sails.hooks.orm) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms).unref();
    sails.after('hook:orm:loaded', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The line a lifted server logs: what it is attached to, and whom it found. */
function liftedLine(uid: string, config: ResolvedRoomsConfig, peers: number): string {
  if (config.adapter === 'memory') {
    return `sails-hook-rooms: server ${uid} lifted with the memory adapter: rooms are this server's alone `
      + "(set adapter: 'redis' and url in config/rooms.js for a cluster).";
  }
  const redis = config.url !== undefined ? maskUrl(config.url)
    : config.sentinel ? describeSentinels(config.sentinel) : 'the Redis clients given in config/rooms.js';
  return `sails-hook-rooms: server ${uid} joined the cluster through ${redis} (adapter '${config.adapter}', key '${config.key}'): `
    + `${peers} other server(s) found.`;
}

/** The hook definition Sails loads (`sails.hooks.rooms`). */
function roomsHook(sails: SailsApp) {
  let config: ResolvedRoomsConfig | undefined;
  let api: RoomsApi | undefined;
  let stats: (() => types.RoomsStats) | undefined;

  function ready(): RoomsApi {
    if (api) return api;
    throw new RoomsError('E_UNAVAILABLE', 'sails.hooks.rooms is not ready: use it once Sails has lifted, and before it is lowered.');
  }

  /**
   * Tells the app what happens to the cluster, after the hook's own handling: a listener runs
   * outside it, and one that throws is logged, not let into the hook's state changes.
   */
  function emitSoon(event: string, payload: Record<string, unknown>): void {
    process.nextTick(() => {
      try {
        sails.emit(event, payload);
      } catch (err) {
        sails.log.error(`sails-hook-rooms: a listener of ${event} threw:`, err);
      }
    });
  }

  /** A promise method of `sails.hooks.rooms`, usable once the hook is initialized. */
  function delegate<K extends Exclude<keyof types.RoomsHookApi, 'stats'>>(name: K) {
    return (...args: unknown[]) => {
      try {
        return (ready()[name] as (...a: unknown[]) => unknown)(...args);
      } catch (err) {
        return Promise.reject(err);
      }
    };
  }

  return {
    defaults: { __configKey__: { ...DEFAULTS } },

    // Sails runs every hook's configure() before any hook loads: a bad setup fails the lift here,
    // before sails-hook-sockets tries an adapter of its own.
    configure(this: HookContext): void {
      assertSocketsHookPresent(sails);
      config = resolveConfig(sails.config[this.configKey]);
      assertNoSocketsAdapter(sails);
      if (config.metrics) assertMetricsPossible(config.metrics.registry);
    },

    async initialize(this: HookContext): Promise<void> {
      // Registered first: Sails may be lowered (e.g. another hook failed) while Redis connects.
      let teardown: (() => void) | undefined;
      let lowered = false;
      sails.on('lower', () => {
        lowered = true;
        teardown?.();
      });
      await new Promise<void>((resolve) => sails.after('hook:sockets:loaded', resolve));

      // Short: on Redis every socket ID of this server starts with it (socket-ids.ts). 96 random bits.
      const uid = randomBytes(12).toString('base64url');
      const transport: ClusterTransport = await createTransport(uid, config!, sails.io, sails.log, emitSoon).catch(async (err: unknown) => {
        await ormLoaded(sails, config!.timeout);
        throw err;
      });
      const closeTransport = () => {
        transport.close().catch((err: unknown) => sails.log.warn('sails-hook-rooms: closing the cluster transport failed:', err));
      };
      if (lowered) return closeTransport();

      // Sails does not wait for 'lower' listeners, and exits before the Redis client has written
      // anything asked there; it waits for config.beforeShutdown: the hook leaves the cluster there.
      const appBeforeShutdown = sails.config.beforeShutdown as ((done: (err?: unknown) => void) => void) | undefined;
      sails.config.beforeShutdown = (done: (err?: unknown) => void) => {
        void transport.leave(Math.min(config!.timeout, LEAVE_MS)).then(() => (appBeforeShutdown ? appBeforeShutdown(done) : done()));
      };

      const operations = new OperationStats((operation, err) => sails.log.verbose(`sails-hook-rooms: ${operation}() failed:`, String(err)));
      const nsp = sails.io.of('/');
      const manager = new RoomManager(nsp, transport, operations);
      const liftedAt = Date.now();
      const { adapter, key, url } = config!;
      stats = () => {
        const cluster = transport.stats();
        return {
          id: uid,
          adapter,
          ...(url === undefined ? {} : { url: maskUrl(url) }),
          key,
          ...cluster,
          fenced: cluster.standing !== 'member',
          sockets: nsp.sockets.size,
          uptimeMs: Date.now() - liftedAt,
          operations: operations.snapshot(),
        };
      };
      const unregisterMetrics = config!.metrics ? registerMetrics(config!.metrics.registry, operations, stats) : () => {};
      api = createRoomsApi(manager, operations, sails.log, { warnUsageErrors: false });
      const restoreSockets = installOnSockets(sails.sockets, createRoomsApi(manager, operations, sails.log, { warnUsageErrors: true }));
      sails.log.info(liftedLine(uid, config!, transport.stats().peers.length));
      teardown = () => {
        sails.config.beforeShutdown = appBeforeShutdown;
        api = undefined;
        stats = undefined;
        unregisterMetrics();
        restoreSockets();
        closeTransport();
      };
    },

    leave: delegate('leave'),
    join: delegate('join'),
    leaveAll: delegate('leaveAll'),
    addRoomMembersToRooms: delegate('addRoomMembersToRooms'),
    removeRoomMembersFromRooms: delegate('removeRoomMembersFromRooms'),
    roomsOf: delegate('roomsOf'),
    membersOf: delegate('membersOf'),

    stats(): types.RoomsStats {
      if (!stats) throw new RoomsError('E_UNAVAILABLE', 'sails.hooks.rooms.stats() is not ready: use it once Sails has lifted, and before it is lowered.');
      return stats();
    },
  };
}

// eslint-disable-next-line @typescript-eslint/no-namespace
namespace roomsHook {
  export import RoomsError = errors.RoomsError;
  export type RoomsErrorCode = errors.RoomsErrorCode;
  export type RoomsResult = types.RoomsResult;
  export type RoomsCallback = types.RoomsCallback;
  export type RoomsConfig = types.RoomsConfig;
  export type RoomsSockets = types.RoomsSockets;
  export type RoomsHookApi = types.RoomsHookApi;
  export type RoomsStats = types.RoomsStats;
  export type RoomsOperationStats = types.RoomsOperationStats;
  export type RoomsPeerStats = types.RoomsPeerStats;
  export type RoomsOutcome = types.RoomsOutcome;
  export type RoomsOperationName = types.RoomsOperationName;
  export type SailsWithRooms = types.SailsWithRooms;
  export type LeaveAllOptions = types.LeaveAllOptions;
  export type SocketLike = types.SocketLike;
}

export = roomsHook;
