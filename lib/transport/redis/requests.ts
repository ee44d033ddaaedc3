/**
 * Requests this server sent to the others and waits on: who must answer, what they answered,
 * and when each gives up. One class owns them; it publishes through `send` and reads the clock
 * it is given, so it is tested with a fake one.
 */
import { RoomsError } from '../../errors';
import type { Clock, Timer } from './clock';
import { sendToEach, type Sent } from './outbox';
import type { SocketRoutes } from './routes';
import type { ClusterRequest, Received, SentReply } from './wire';

/**
 * How a request ends: the replies of the servers concerned, or why there are none; and the servers
 * it did not count on (fenced when it was sent, or while it waited) that did not answer.
 */
export type Done = (err: RoomsError | null, replies?: Received[], notCountedOn?: string[]) => void;

/**
 * What a request does when a server it waits for is fenced: a removal goes on without it (its
 * part is recorded for it, registry.ts); a query fails (its answer would be incomplete); a join
 * waits (that server may have applied it before it was cut off: only a timeout can say "maybe").
 */
export type WhenFenced = 'goOn' | 'fail' | 'wait';

interface PendingRequest {
  id: number;
  message: string;
  /** Where it went: every server's request channel, or the inboxes of the servers holding its sockets. */
  channels: readonly string[];
  /** Sent to inboxes, not to every server. */
  directed: boolean;
  /** When it fails with E_TIMEOUT (clock.now()). */
  deadline: number;
  /**
   * Servers that must answer: those known to be up when it was sent (one Set for the requests
   * sent while they did not change), or the one it was sent to.
   */
  awaited: Set<string>;
  /** Redis accepted it (PUBLISH answered). */
  published: boolean;
  /** Who answered, and what (a few servers: arrays cost less than a Map). */
  repliedBy: string[];
  replies: Received[];
  /** For join/leave by ID and socket look-ups: the IDs it names, and those no server said it holds yet (done when none is). */
  wantedIds: string[] | undefined;
  missingIds: Set<string> | undefined;
  whenFenced: WhenFenced;
  /** Sent to the servers routes name: if they do not hold them all, every server is asked. */
  followsRoute: boolean;
  /** What it asks, to send it again to every server (with the servers then fenced named). */
  request: ClusterRequest;
  /**
   * The servers it does not count on: fenced when it was published (the message names them, and
   * they ignore it), or while it waited. Undefined while there are none (the usual case).
   */
  notCountedOn: string[] | undefined;
  done: Done;
}

export interface RequestOptions {
  /** Join/leave by ID and socket look-ups: the IDs it names; done once all are found. */
  wantedIds?: string[];
  whenFenced: WhenFenced;
  /** Sent to the servers routes name: if they do not hold all the IDs, every server is asked. */
  followsRoute?: boolean;
  /** The servers a broadcast request names as fenced (it is sent to every server; they ignore it). */
  excluded?: string[];
  /** When it fails with E_TIMEOUT, if not `timeout` from now: one that waited for Redis keeps its call's (waiting.ts). */
  deadline?: number;
}

export interface RequestsOptions {
  timeoutMs: number;
  clock: Clock;
  /** Publishes a message on a channel; `onSent` is told how the PUBLISH went. */
  send(channel: string, message: string, onSent?: Sent): void;
  /** The channel every server reads. */
  broadcastChannel: string;
  /** The channel only `server` reads. */
  inboxOf(server: string): string;
  /** The servers known to be up now. */
  livePeers(): Set<string>;
  /** The servers known to be fenced now. */
  fencedPeers(): string[];
  /** Encodes request `id` for every server, naming `excluded` (the servers fenced); receivers drop it once `ttlMs` old. */
  encodeBroadcast(id: number, request: ClusterRequest, excluded: readonly string[], ttlMs: number): string;
  routes: SocketRoutes;
}

function notCounting(entry: PendingRequest, servers: readonly string[]): void {
  for (const server of servers) {
    if (!entry.notCountedOn) entry.notCountedOn = [server];
    else if (!entry.notCountedOn.includes(server)) entry.notCountedOn.push(server);
  }
}

export function unavailable(message: string, cause?: unknown): RoomsError {
  return new RoomsError('E_UNAVAILABLE', message, cause === undefined ? undefined : { cause });
}

const notPublished = (err: unknown) => unavailable(`sails-hook-rooms could not publish to Redis: ${String(err)}`, err);

export class PendingRequests {
  private readonly pending = new Map<number, PendingRequest>();
  // One timer for every request: they all wait `timeout` from their call, and are sent in the order of
  // their calls (those that waited for Redis too), so they expire in the order they were sent.
  // It is left to run out when no request is pending: one request at a time then arms one timer
  // per `timeout`, not one each.
  private expiryTimer: Timer | undefined;

  constructor(private readonly options: RequestsOptions) {}

  get size(): number {
    return this.pending.size;
  }

  /**
   * Publishes a request on `channels` and waits for every server of `awaited` to answer (for
   * requests naming socket IDs: until they are all found); `done` is told once, never before
   * start() returned.
   */
  start(id: number, request: ClusterRequest, message: string, channels: readonly string[], awaited: Set<string>,
    { wantedIds, whenFenced, followsRoute = false, excluded, deadline }: RequestOptions, done: Done): void {
    const entry: PendingRequest = {
      id,
      message,
      channels,
      directed: channels[0] !== this.options.broadcastChannel,
      deadline: deadline ?? this.options.clock.now() + this.options.timeoutMs,
      awaited,
      published: false,
      repliedBy: [],
      replies: [],
      wantedIds,
      missingIds: wantedIds && new Set(wantedIds),
      whenFenced,
      followsRoute,
      request,
      notCountedOn: excluded !== undefined && excluded.length > 0 ? [...excluded] : undefined,
      done,
    };
    this.pending.set(id, entry);
    this.scheduleExpiry();
    this.publish(entry);
  }

  onReply(from: string, id: number, reply: SentReply): void {
    const entry = this.pending.get(id);
    if (!entry || entry.repliedBy.includes(from)) return;
    const foundIds = reply.foundIds === 'all' ? entry.wantedIds ?? [] : reply.foundIds;
    entry.repliedBy.push(from);
    entry.replies.push({ from, matched: reply.matched, foundIds, names: reply.names });
    // A directed request's answer tells nothing new about where its sockets are.
    if (!entry.directed) this.options.routes.learn(from, foundIds);
    for (const found of foundIds) entry.missingIds?.delete(found);
    this.checkDone(entry);
  }

  /** A server left the cluster (lowered): nobody waits for it any more. */
  peerLeft(peer: string): void {
    for (const entry of this.pending.values()) {
      entry.awaited.delete(peer);
      this.checkDone(entry);
    }
  }

  /** A server was fenced: each request waiting for it does as it said (WhenFenced). */
  peerFenced(peer: string): void {
    for (const entry of [...this.pending.values()]) {
      if (!entry.awaited.has(peer) || entry.repliedBy.includes(peer) || entry.whenFenced === 'wait') continue;
      if (entry.whenFenced === 'fail') {
        this.settle(entry, unavailable(`sails-hook-rooms: server ${peer} was cut off from the cluster before it answered: the answer would be incomplete.`));
        continue;
      }
      // Sets are shared between requests sent while the members did not change.
      entry.awaited = new Set(entry.awaited);
      entry.awaited.delete(peer);
      notCounting(entry, [peer]);
      this.checkDone(entry);
    }
  }

  /** A server (re)subscribed: requests it may have missed meanwhile are sent again (changes are idempotent). */
  peerResubscribed(peer: string): void {
    for (const entry of this.pending.values()) {
      if (!entry.awaited.has(peer) || entry.repliedBy.includes(peer)) continue;
      this.options.send(entry.directed ? this.options.inboxOf(peer) : this.options.broadcastChannel, entry.message);
    }
  }

  failAll(err: RoomsError): void {
    for (const entry of [...this.pending.values()]) this.settle(entry, err);
  }

  /** Fails what is pending and stops the timer. */
  close(err: RoomsError): void {
    this.expiryTimer?.cancel();
    this.expiryTimer = undefined;
    this.failAll(err);
  }

  private publish(entry: PendingRequest): void {
    sendToEach(this.options.send, entry.channels, entry.message, (err) => {
      if (err) return this.settle(entry, notPublished(err));
      entry.published = true;
      this.checkDone(entry);
    });
  }

  private checkDone(entry: PendingRequest): void {
    if (entry.missingIds?.size === 0) return this.settle(entry, null);
    if (!entry.published) return;
    for (const peer of entry.awaited) if (!entry.repliedBy.includes(peer)) return;
    if (entry.followsRoute && entry.directed) return this.askEveryone(entry);
    this.settle(entry, null);
  }

  /** A request sent on a stale route: the others may hold what its server did not. */
  private askEveryone(entry: PendingRequest): void {
    this.options.routes.forget(entry.missingIds!);
    const excluded = this.options.fencedPeers();
    // Sent again, it still expires at the deadline of the first: no receiver applies it after its sender gave up.
    const ttlMs = Math.max(1, Math.floor(entry.deadline - this.options.clock.now()));
    entry.message = this.options.encodeBroadcast(entry.id, entry.request, excluded, ttlMs);
    entry.channels = [this.options.broadcastChannel];
    entry.directed = false;
    entry.awaited = this.options.livePeers();
    entry.published = false;
    notCounting(entry, excluded);
    this.publish(entry);
  }

  private settle(entry: PendingRequest, err: RoomsError | null): void {
    if (!this.pending.delete(entry.id)) return;
    if (err) return entry.done(err);
    // Fenced and yet it answered (it read the request before its fence): it did get it.
    const notCountedOn = entry.notCountedOn?.filter((server) => !entry.repliedBy.includes(server));
    entry.done(null, entry.replies, notCountedOn);
  }

  private expire(): void {
    this.expiryTimer = undefined;
    const now = this.options.clock.now();
    for (const entry of this.pending.values()) {
      if (entry.deadline > now) break;
      this.settle(entry, new RoomsError('E_TIMEOUT', `sails-hook-rooms: only ${entry.replies.length} of ${entry.awaited.size} other servers answered within ${this.options.timeoutMs} ms `
        + '(sails.config.rooms.timeout); the change was applied on this server and on the servers that answered.'));
    }
    this.scheduleExpiry();
  }

  private scheduleExpiry(): void {
    if (this.expiryTimer || this.pending.size === 0) return;
    const oldest = this.pending.values().next().value as PendingRequest;
    this.expiryTimer = this.options.clock.setTimeout(() => this.expire(), oldest.deadline - this.options.clock.now());
  }
}
