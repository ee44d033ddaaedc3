import type { ClusterTransport, PeerAnswer } from './transport';

const NO_PEERS: PeerAnswer = { servers: 0, matched: 0, foundIds: [], confirmed: true, unreachableServers: 0 };

/** One server, socket.io's in-memory adapter: nothing crosses a process boundary. */
export function createMemoryTransport(): ClusterTransport {
  return {
    clustered: false,
    sendChange: (_change, answered) => process.nextTick(answered, null, NO_PEERS),
    roomsOfRemoteSocket: async () => null,
    remoteMembersOf: async () => [],
    stats: () => ({ standing: 'member', peers: [], pending: 0, waiting: 0 }),
    leave: async () => {},
    close: async () => {},
  };
}
