/**
 * A Redis in memory for the interleaving tests (test/unit/interleavings.test.ts): every server has
 * a publishing and a subscribing connection, each a FIFO of commands on their way to Redis and a
 * FIFO of what Redis sent back, and nothing moves unless the test says which event happens next.
 * So a test can choose, step by step, any order Redis and the network allow:
 *
 * - Redis executes one connection's commands in order, each atomically (the record's steps too),
 *   and delivers a PUBLISH to every subscribed connection, in the order it executed them;
 * - a connection can be cut (its pending commands fail, what it had not read is lost, Redis forgets
 *   its subscriptions), stalled (nothing it sent or was sent moves, nothing closes), healed
 *   (it reconnects, says 'ready', and only later is subscribed again, as node-redis does);
 * - Redis can restart empty (every connection cut, the record lost).
 */
import type { NodeLink } from '../../lib/transport/redis/node';
import type { Registry } from '../../lib/transport/redis/registry';
import { FakeRegistry } from './fake-registry';

const turn = () => new Promise((resolve) => setImmediate(resolve));

type State = 'up' | 'down' | 'stalled';

interface Command {
  run(): unknown;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

interface Connection {
  server: string;
  kind: 'pub' | 'sub';
  state: State;
  /** Cut, and not healed yet: it cannot reconnect. */
  cut: boolean;
  /** Sent, not executed by Redis yet. */
  toRedis: Command[];
  /** Sent by Redis, not read by the server yet; `lost` is what a cut makes of it (a reply's command fails). */
  toServer: Array<{ read(): void; lost(err: unknown): void }>;
  /** For a subscriber: whether Redis counts it subscribed (after a reconnect, only once it resubscribed). */
  subscribed: boolean;
}

/** One thing that can happen next. */
export interface FakeEvent {
  what: string;
  run(): void;
}

export class FakeRedis {
  readonly registry = new FakeRegistry();
  private readonly connections = new Map<string, { pub: Connection; sub: Connection; listeners: Map<string, (message: string) => void>; ready: Array<() => void>; lost: Array<(err: unknown) => void> }>();
  /** Servers whose process is stopped: they read nothing. */
  readonly paused = new Set<string>();
  private down = false;

  /** The link of `server` (node.ts NodeLink), and its registry, whose steps run as commands on its publishing connection. */
  connect(server: string): { link: NodeLink; registry: Registry } {
    const make = (kind: 'pub' | 'sub'): Connection => ({ server, kind, state: 'up', cut: false, toRedis: [], toServer: [], subscribed: kind === 'sub' });
    const entry = { pub: make('pub'), sub: make('sub'), listeners: new Map<string, (message: string) => void>(), ready: [] as Array<() => void>, lost: [] as Array<(err: unknown) => void> };
    this.connections.set(server, entry);
    const command = <T>(run: () => T): Promise<T> => new Promise<T>((resolve, reject) => {
      // The hook's own clients fail at once while disconnected (disableOfflineQueue).
      if (entry.pub.state === 'down') return reject(new Error('The client is closed'));
      entry.pub.toRedis.push({ run, resolve: resolve as (value: unknown) => void, reject });
    });
    const link: NodeLink = {
      sharded: false,
      isReady: () => entry.pub.state !== 'down' && entry.sub.state !== 'down',
      isUp: () => link.isReady(),
      pubReady: () => entry.pub.state !== 'down',
      publish: (channel, payload) => command(() => this.publish(channel, payload)),
      subscribe: async (channel, listener) => { entry.listeners.set(channel, listener); },
      onReady: (listener) => { entry.ready.push(listener); },
      onSubscriberLost: (listener) => { entry.lost.push(listener); },
      close: async () => { this.connections.delete(server); },
    };
    // Each step reads the record and may publish a notice, in one go (see execute()).
    const step = <T>(run: () => T) => command(() => {
      const before = this.registry.published.length;
      const result = run();
      return { result, notices: this.registry.published.slice(before) };
    }).then((outcome) => outcome.result);
    const registry: Registry = {
      register: (...args) => step(() => this.registry.registerNow(...args)),
      fence: (...args) => step(() => this.registry.fenceNow(...args)),
      record: (...args) => step(() => this.registry.recordNow(...args)),
      servers: () => step(() => this.registry.serversNow()),
      leave: (uid) => step(() => this.registry.leaveNow(uid)),
    };
    return { link, registry };
  }

  /** Subscribes `server` to `channel` with a listener of its own (e.g. socket.io's adapter). */
  listen(server: string, channel: string, listener: (message: string) => void): void {
    this.connections.get(server)!.listeners.set(channel, listener);
  }

  /** What can happen next, in no particular order. */
  events(): FakeEvent[] {
    const events: FakeEvent[] = [];
    for (const [server, entry] of this.connections) {
      for (const connection of [entry.pub, entry.sub]) {
        if (!this.down && connection.state === 'up' && connection.toRedis.length > 0) {
          events.push({ what: `Redis executes ${server}'s ${connection.kind} command`, run: () => this.execute(connection) });
        }
        if (connection.state !== 'stalled' && connection.toServer.length > 0 && !this.paused.has(server)) {
          events.push({ what: `${server} reads its ${connection.kind} connection`, run: () => connection.toServer.shift()!.read() });
        }
        if (connection.state === 'down' && !connection.cut && !this.down) {
          events.push({ what: `${server}'s ${connection.kind} connection reconnects`, run: () => this.reconnect(entry, connection) });
        }
      }
    }
    return events;
  }

  /** Runs the events, the first available each time (a turn of the event loop after each), until none is left. */
  async runAll(limit = 20_000): Promise<void> {
    for (let n = 0; n < limit; n++) {
      const next = this.events();
      if (next.length === 0) {
        await turn();
        if (this.events().length === 0) return;
        continue;
      }
      next[0]!.run();
      await turn();
    }
    throw new Error('the fake Redis never went quiet');
  }

  cut(server: string, kinds: Array<'pub' | 'sub'> = ['pub', 'sub']): void {
    const entry = this.connections.get(server);
    if (!entry) return;
    for (const kind of kinds) {
      entry[kind].cut = true;
      this.drop(entry, entry[kind]);
    }
  }

  stall(server: string): void {
    const entry = this.connections.get(server);
    if (!entry) return;
    for (const connection of [entry.pub, entry.sub]) if (connection.state === 'up') connection.state = 'stalled';
  }

  /** Ends a cut (the connections may reconnect) or a stall (what waited moves again). */
  heal(server: string): void {
    const entry = this.connections.get(server);
    if (!entry) return;
    for (const connection of [entry.pub, entry.sub]) {
      connection.cut = false;
      if (connection.state === 'stalled') connection.state = 'up';
    }
  }

  /** Redis stops (every connection cut, the record lost). */
  crash(): void {
    this.down = true;
    this.registry.lose();
    for (const entry of this.connections.values()) for (const connection of [entry.pub, entry.sub]) this.drop(entry, connection);
  }

  restart(): void {
    this.down = false;
  }

  private drop(entry: { sub: Connection; lost: Array<(err: unknown) => void> }, connection: Connection) {
    if (connection.state === 'down') return;
    const closed = new Error('Socket closed unexpectedly');
    connection.state = 'down';
    connection.subscribed = false;
    // As node-redis does: a command whose reply was not read fails; messages not read are lost.
    for (const unread of connection.toServer.splice(0)) unread.lost(closed);
    for (const command of connection.toRedis.splice(0)) command.reject(closed);
    if (connection === entry.sub) for (const listener of entry.lost) listener(closed);
  }

  private reconnect(entry: { pub: Connection; sub: Connection; ready: Array<() => void> }, connection: Connection) {
    connection.state = 'up';
    // node-redis says 'ready', then subscribes again: a command like any other.
    if (connection.kind === 'sub') connection.toRedis.push({ run: () => { connection.subscribed = true; }, resolve: () => {}, reject: () => {} });
    for (const listener of entry.ready) listener();
  }

  private execute(connection: Connection) {
    const command = connection.toRedis.shift()!;
    let result: unknown;
    try {
      result = command.run();
    } catch (err) {
      connection.toServer.push({ read: () => command.reject(err), lost: (closed) => command.reject(closed) });
      return;
    }
    connection.toServer.push({ read: () => command.resolve(result), lost: (closed) => command.reject(closed) });
    // A step's notices go out as it runs.
    const notices = (result as { notices?: string[] } | undefined)?.notices;
    if (notices) for (const notice of notices) this.publish(HOOK_CHANNEL, notice);
  }

  /** Delivers to every subscribed connection listening on `channel`; returns how many. */
  private publish(channel: string, payload: string): number {
    let receivers = 0;
    for (const entry of this.connections.values()) {
      const listener = [...entry.listeners].find(([name]) => name === channel)?.[1];
      if (!listener || !entry.sub.subscribed || entry.sub.state === 'down') continue;
      receivers++;
      entry.sub.toServer.push({ read: () => listener(payload), lost: () => {} });
    }
    return receivers;
  }
}

/** The hook's request channel with the default key: where fence notices go. */
export const HOOK_CHANNEL = '{socket.io-rooms}#/#';
