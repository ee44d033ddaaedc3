/**
 * A helper hook that records the `sails.sockets` methods sails-hook-sockets installed, before
 * sails-hook-rooms replaces some of them, so tests can compare by identity.
 */
export const SOCKETS_METHOD_NAMES = [
  'leave', 'join', 'leaveAll', 'addRoomMembersToRooms', 'removeRoomMembersFromRooms',
  'broadcast', 'blast', 'getId', 'get', 'parseSocket',
] as const;

export type SocketsMethodName = typeof SOCKETS_METHOD_NAMES[number];
export type SocketsMethods = Record<SocketsMethodName, unknown>;

/**
 * `hook` goes into the lift config's `hooks` (e.g. `{ 'stock-sockets-recorder': recorder.hook }`);
 * `methods()` then returns what sails-hook-sockets put on `sails.sockets`.
 */
export function stockSocketsRecorder(): { hook: (sails: any) => object; methods(): SocketsMethods } {
  let recorded: SocketsMethods | undefined;
  return {
    hook: (sails: any) => ({
      // configure() runs before any hook loads: the listener is in place before the sockets hook
      // emits, and it runs synchronously in that emit, before sails-hook-rooms resumes.
      configure() {
        sails.on('hook:sockets:loaded', () => {
          recorded = Object.fromEntries(SOCKETS_METHOD_NAMES.map((name) => [name, sails.sockets[name]])) as SocketsMethods;
        });
      },
    }),
    methods() {
      if (!recorded) throw new Error('the sockets hook never loaded: is stockSocketsRecorder().hook in the lift config?');
      return recorded;
    },
  };
}
