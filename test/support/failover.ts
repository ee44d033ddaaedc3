/**
 * Two servers working through a Redis failover, as the failover tests watch them: each joins and
 * leaves the other's socket by ID, one operation after another, and broadcasts to it, every
 * outcome recorded; then the ordering guarantee, checked with probes (probes.ts).
 */
import assert from 'node:assert/strict';
import { connectRaw, type TestClient } from './clients';
import { postJson, type TestServer } from './cluster';
import { liftFixture, urlOf, type SailsTestApp } from './fixture';
import { roomsReachingEach } from './probes';

/** An HTTP round trip to a server on top of the operation itself. */
export const HTTP_SLACK_MS = 1000;

export type ChangeBody = { matched?: number; code?: string; message?: string };

export interface Operation {
  from: string;
  issuedAt: number;
  settledAt: number;
  status: number;
  body: ChangeBody;
}

export interface Broadcast {
  from: string;
  issuedAt: number;
  /** Its probe is over: it arrived, or its timeout passed. */
  settled: boolean;
  /** It reached the other server's socket within the probe's timeout. */
  delivered: boolean;
}

/** One server as the operations and the probes reach it. */
export interface Side {
  name: string;
  url: string;
  /** A socket connected to this server. */
  client: TestClient;
  socketId: string;
}

/** Rejects if `promise` has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** A side as roomsReachingEach sends from it: it reads only name and post, which the in-process app has too. */
export function asProbeSource(side: Side): TestServer {
  return { name: side.name, url: side.url, post: (route, body) => postJson(side.url, route, body) } as TestServer;
}

/** The in-process app lifted with `rooms`, a socket on it and one on `other`. */
export async function liftBeside(other: TestServer, rooms: Record<string, unknown>): Promise<{ app: SailsTestApp; sides: [Side, Side] }> {
  const app = await liftFixture({ rooms });
  const appUrl = urlOf(app);
  const [onApp, onOther] = await Promise.all([connectRaw(appUrl), connectRaw(other.url)]);
  return {
    app,
    sides: [
      { name: 'in-process', url: appUrl, client: onApp, socketId: await onApp.socketId() },
      { name: 'other', url: other.url, client: onOther, socketId: await onOther.socketId() },
    ],
  };
}

/** Of `items` (in issue order) issued at or after `since`, those from the first success after which every one succeeded. */
function finalRun<T extends { issuedAt: number }>(items: readonly T[], since: number, succeeded: (item: T) => boolean): T[] {
  const issued = items.filter((item) => item.issuedAt >= since);
  let first = issued.length;
  while (first > 0 && succeeded(issued[first - 1]!)) first -= 1;
  return issued.slice(first);
}

export interface ChurnOptions {
  /** The servers' `timeout`: no operation may take longer (plus an HTTP round trip). */
  timeoutMs: number;
  /** Also broadcast to the other side's socket this often (a probe each, not waiting for the last): 0 for none. */
  broadcastEveryMs?: number;
  /** A broadcast that has not arrived within this long counts as lost. */
  broadcastTimeoutMs?: number;
}

/**
 * Each side joins and leaves, by ID, the other side's socket, one operation after another, and
 * (with `broadcastEveryMs`) broadcasts to it, until stopped: every outcome, in issue order per side.
 */
export function churn(sides: readonly [Side, Side], { timeoutMs, broadcastEveryMs = 0, broadcastTimeoutMs = 1000 }: ChurnOptions) {
  let running = true;
  const operations: Operation[] = [];
  const broadcasts: Broadcast[] = [];
  const loops = Promise.all(sides.map(async (side, i) => {
    const target = sides[1 - i]!;
    for (let n = 0; running; n++) {
      const route = n % 2 === 0 ? '/rooms/add-socket' : '/rooms/remove-socket';
      const issuedAt = Date.now();
      const { status, body } = await within(postJson<ChangeBody>(side.url, route, { socketId: target.socketId, roomName: 'churn' }),
        timeoutMs + HTTP_SLACK_MS, `${side.name}'s ${route}`);
      operations.push({ from: side.name, issuedAt, settledAt: Date.now(), status, body });
    }
  }));
  const probing: Array<Promise<void>> = [];
  const probe = (side: Side, target: Side) => {
    const issuedAt = Date.now();
    const entry: Broadcast = { from: side.name, issuedAt, settled: false, delivered: false };
    broadcasts.push(entry);
    probing.push(roomsReachingEach(asProbeSource(side), [target], [], broadcastTimeoutMs).then(
      ([arrived]) => { entry.delivered = arrived !== null; },
      () => { /* Lost: stays undelivered. */ },
    ).finally(() => { entry.settled = true; }));
  };
  const prober = broadcastEveryMs > 0
    ? setInterval(() => sides.forEach((side, i) => probe(side, sides[1 - i]!)), broadcastEveryMs)
    : undefined;
  // Read by stop(); meanwhile a failed loop must not be an unhandled rejection.
  loops.catch(() => {});
  return {
    operations,
    broadcasts,
    /** The operations of `side` issued at or after `since`, from its first confirmed one after which every one was confirmed. */
    confirmedRun(side: Side, since: number): Operation[] {
      return finalRun(operations.filter((op) => op.from === side.name), since, (op) => op.status === 200);
    },
    /**
     * The broadcasts from `side` issued at or after `since`, up to the first whose probe is not over,
     * from the first delivered after which every one was.
     */
    deliveredRun(side: Side, since: number): Broadcast[] {
      const own = broadcasts.filter((b) => b.from === side.name);
      const unsettled = own.findIndex((b) => !b.settled);
      return finalRun(unsettled === -1 ? own : own.slice(0, unsettled), since, (b) => b.delivered);
    },
    async stop() {
      running = false;
      clearInterval(prober);
      await loops;
      await Promise.all(probing);
    },
  };
}

export type Churn = ReturnType<typeof churn>;

/** Every operation was confirmed, or failed with E_UNAVAILABLE or E_TIMEOUT, and none took longer than `timeoutMs`. */
export function assertEachConfirmedOrFailedWithCode(operations: readonly Operation[], timeoutMs: number): void {
  for (const op of operations) {
    const what = `${op.from}'s operation issued ${op.issuedAt}: ${op.status} ${JSON.stringify(op.body)}`;
    if (op.status === 200) assert.equal(op.body.matched, 1, what);
    else assert.ok(op.status === 503 && ['E_UNAVAILABLE', 'E_TIMEOUT'].includes(op.body.code!), what);
    assert.ok(op.settledAt - op.issuedAt <= timeoutMs + HTTP_SLACK_MS, `${what} took ${op.settledAt - op.issuedAt} ms`);
  }
}

/**
 * `rounds` rounds: each side joins the other's socket to a room, and a broadcast to it from
 * either server reaches both sockets; then each removes it, and no broadcast from either reaches them.
 */
export async function assertOrderingHolds(sides: readonly [Side, Side], rounds: number): Promise<void> {
  const sockets = sides.map(({ client, socketId }) => ({ client, socketId }));
  const change = (route: string) => Promise.all(sides.map(async (side, i) => {
    const { status, body } = await postJson<ChangeBody>(side.url, route, { socketId: sides[1 - i]!.socketId, roomName: 'ordered' });
    assert.deepEqual([status, body.matched], [200, 1], `${side.name} ${route}: ${JSON.stringify(body)}`);
  }));
  const reached = async () => Promise.all(sides.map((side) => roomsReachingEach(asProbeSource(side), sockets, ['ordered'])));
  for (let round = 1; round <= rounds; round++) {
    await change('/rooms/add-socket');
    for (const [from, arrivals] of (await reached()).entries()) {
      assert.deepEqual(arrivals, [['ordered'], ['ordered']], `round ${round}: a broadcast from ${sides[from]!.name} after the confirmed joins`);
    }
    await change('/rooms/remove-socket');
    for (const [from, arrivals] of (await reached()).entries()) {
      assert.deepEqual(arrivals, [[], []], `round ${round}: a broadcast from ${sides[from]!.name} after the confirmed leaves`);
    }
  }
}
