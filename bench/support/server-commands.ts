/** Commands every bench server answers, whatever the case: set-up, observation, memory. */
import { now } from './clock';
import type { Commands } from './server-context';
import { addSimulatedSockets, removeSimulatedSockets } from '../../test/support/simulated-sockets';

/** Real (connected) sockets of this server, simulated ones left out. */
function connectedSockets(nsp: import('socket.io').Namespace) {
  return [...nsp.sockets.values()].filter((socket) => (socket as unknown as { conn?: unknown }).conn !== undefined);
}

const watches = new Map<string, Promise<number>>();

export const commonCommands: Commands = {
  connectedIds: ({ nsp }) => connectedSockets(nsp).map((socket) => socket.id),

  /** Joins sockets of this server to rooms through the adapter directly (set-up, not measured). */
  joinLocally: ({ nsp }, { ids, rooms }: { ids: string[]; rooms: string[] }) => {
    for (const id of ids) void nsp.adapter.addAll(id, new Set(rooms));
  },

  /** Joins every connected socket to `rooms` through the app's own `sails.sockets.join` (`repeat` times over). */
  joinConnectedThroughApp: ({ sails, nsp }, { rooms, repeat = 1 }: { rooms: string[]; repeat?: number }) => {
    const sockets = connectedSockets(nsp);
    for (let i = 0; i < repeat; i++) {
      for (const socket of sockets) sails.sockets.join(socket, rooms, () => {});
    }
  },

  simulate: ({ nsp, socketPrototype }, { prefix, count, rooms }: { prefix: string; count: number; rooms: string[] }) => {
    removeSimulatedSockets(nsp, prefix);
    return addSimulatedSockets(nsp, socketPrototype, prefix, count, rooms).length;
  },

  dropSimulated: ({ nsp }, { prefix }: { prefix: string }) => removeSimulatedSockets(nsp, prefix),

  roomSize: ({ nsp }, { room }: { room: string }) => nsp.adapter.rooms.get(room)?.size ?? 0,

  /**
   * Starts watching for `count` sockets to leave a room on this server (`leaves`), or for `room`
   * to have no member here (`roomEmpty`); `watched` then resolves with the time it happened.
   * Armed before the operation starts, so that nothing is missed.
   */
  arm: ({ nsp }, { name, count, room, timeoutMs }: { name: string; count?: number; room?: string; timeoutMs: number }) => {
    watches.set(name, new Promise<number>((resolve, reject) => {
      const event = room === undefined ? 'leave-room' : 'delete-room';
      let seen = 0;
      const timer = setTimeout(() => {
        nsp.adapter.off(event, listener);
        reject(new Error(`watch ${name}: not done within ${timeoutMs} ms (${seen} of ${count ?? 1} seen)`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        nsp.adapter.off(event, listener);
        resolve(now());
      };
      function listener(eventRoom: string) {
        if (room !== undefined ? eventRoom === room : ++seen >= count!) done();
      }
      nsp.adapter.on(event, listener);
      if (room !== undefined && !nsp.adapter.rooms.has(room)) done();
    }));
    // Never an unhandled rejection: the driver sees it through `watched`.
    watches.get(name)!.catch(() => {});
  },

  watched: (_server, { name }: { name: string }) => {
    const watch = watches.get(name);
    watches.delete(name);
    if (!watch) throw new Error(`no watch named ${name}`);
    return watch;
  },

  /** A full garbage collection now, so that set-up garbage is not collected during a measurement. */
  collectGarbage: () => { global.gc?.(); },

  /** Heap and RSS after a full garbage collection (the server runs with --expose-gc). */
  memory: () => {
    for (let i = 0; i < 3; i++) global.gc?.();
    const { heapUsed, rss } = process.memoryUsage();
    return { heapUsed, rss };
  },
};
