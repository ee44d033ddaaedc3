/**
 * Which rooms' broadcasts reach sockets connected to other processes: one request makes a server
 * broadcast a probe to each room, then a sentinel to each socket's own room (RoomsController.probe).
 * A probe that has not arrived before the sentinel never will: "not received" needs no sleep.
 */
import type { TestClient } from './clients';
import type { TestServer } from './cluster';

export interface ProbedSocket {
  client: TestClient;
  socketId: string;
}

let nonces = 0;

/**
 * Resolves, once every socket's sentinel arrived, with the rooms whose probe reached each, in
 * order; `null` for a socket that was disconnected meanwhile.
 */
export async function roomsReachingEach(from: TestServer, sockets: readonly ProbedSocket[], rooms: readonly string[], timeoutMs = 10_000): Promise<Array<string[] | null>> {
  const nonce = `${process.pid}-${++nonces}`;
  const arrivals = sockets.map(({ client, socketId }) => new Promise<string[] | null>((resolve, reject) => {
    const reached: string[] = [];
    const onProbe = (probe: { nonce: string; room: string }) => { if (probe?.nonce === nonce) reached.push(probe.room); };
    const onSentinel = (sentinel: { nonce: string }) => {
      if (sentinel?.nonce !== nonce) return;
      finish();
      resolve(reached);
    };
    const onDisconnect = () => {
      finish();
      resolve(null);
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`the sentinel from ${from.name} did not reach socket ${socketId} within ${timeoutMs} ms (probes so far: ${reached.join(', ') || 'none'})`));
    }, timeoutMs);
    function finish() {
      clearTimeout(timer);
      client.off('probe', onProbe);
      client.off('probe-sentinel', onSentinel);
      client.off('disconnect', onDisconnect);
    }
    client.on('probe', onProbe);
    client.on('probe-sentinel', onSentinel);
    client.on('disconnect', onDisconnect);
  }));
  const all = Promise.all(arrivals);
  // If the request fails, the arrivals still end (by their timeout) and nobody waits for them.
  all.catch(() => {});
  const response = await from.post('/rooms/probe', { nonce, rooms: [...rooms], sockets: sockets.map((socket) => socket.socketId) });
  if (response.status !== 200) throw new Error(`${from.name} answered ${response.status} to a probe`);
  return all;
}
