/**
 * This server's own standing in the cluster (docs/partitions.md).
 *
 * A member answers requests and lets what it receives through. When it may have been cut off
 * (its subscriber connection lost, its own heartbeat not coming back, or its fence notice read
 * among the messages), it holds what it receives (gate.ts) and, as soon as it reaches Redis,
 * registers again (registry.ts). Not fenced: it lets the held messages through. Fenced: it applies
 * the removals confirmed without it first (catch-up.ts). Its record incomplete (lost, dropped,
 * overflowed): it takes the last resort and disconnects its sockets, saying why.
 *
 * Redis losing the whole record (a restart without persistence) is told apart from a partition by
 * waiting, after registering in the new record, for every member this server knew to register too;
 * each marks the servers it knew fenced as lost. Nobody fenced in a plain full outage: nothing is lost.
 */
import type { Namespace } from 'socket.io';
import type { Logger } from '../../sails';
import { applyCatchUp, type CatchUpOutcome } from './catch-up';
import type { Clock } from './clock';
import type { Gate } from './gate';
import type { LocalChanges } from './local-changes';
import { DEAF_AFTER_MS, type Peers } from './peers';
import type { Registry } from './registry';
import type { Message } from './wire';

export type StandingState = 'member' | 'holding' | 'fenced';

/** Emitted on the Sails app (sails.on): when this server learns it was fenced, and when it is a member again. */
export type StandingEvent = 'rooms:fenced' | 'rooms:rejoined';

export interface StandingOptions {
  uid: string;
  nsp: Namespace;
  registry: Registry;
  gate: Gate;
  local: LocalChanges;
  peers: Peers;
  clock: Clock;
  log: Logger;
  timeoutMs: number;
  linkReady(): boolean;
  /** Publishes something this server will hear back if its subscription works (a heartbeat). */
  probe(): void;
  /**
   * Behind Sentinel: when the sentinels last confirmed that its Redis is the primary (clock.now()
   * of the question), and why not since. Hearing itself proves nothing there: a primary cut off
   * from the others still relays its PUBLISH (primary-watch.ts).
   */
  primary?: { confirmedAt(): number; reason(): string };
  /** A held request let through: handled as if it arrived now, answered if `answer`. */
  handleRequest(message: Extract<Message, { t: 'request' }>, answer: boolean): void;
  /** Member again (or for the first time): this server says hello. */
  becameMember(): void;
  /** The lost notice this server publishes when Redis lost the record and it knew `servers` fenced. */
  lostNotice(servers: readonly string[]): string;
  emit(event: StandingEvent, payload: Record<string, unknown>): void;
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);

/**
 * After Redis lost the record, how long a server waits at least for the members it knew to register
 * again (reconnecting takes up to a second or two, longer under load), before it gives up on one.
 */
export const RECORD_LOST_WAIT_MS = 10_000;

export class Standing {
  state: StandingState = 'member';
  /** The record's generation this server registered in ('' before the first registration). */
  gen = '';
  private lastOwnEcho: number;
  private holdingSince = 0;
  private reason = '';
  private checking = false;
  /**
   * It heard itself since it began holding: its subscription works now (node-redis says 'ready'
   * before it has subscribed again), so what it lets through from then on is not lost.
   */
  private hearsItself = false;
  /**
   * What may change this server's record after a registration was sent, counted: a fence notice,
   * a lost subscriber (a notice sent then is lost), a lost notice. A registration overtaken by one
   * is acted upon only up to it (gate.ts), and the server registers again.
   */
  private changes = 0;
  private attempts = 0;
  /** The last registration whose catch-up this server applied: the record then drops it (registry.ts). */
  private applied = '';
  /** Redis lost the record: the members known before, each of which must register in the new one. */
  private membersBefore: Set<string> | undefined;
  private waitUntil = 0;
  /** The sentinels stopped confirming its Redis, and it marked where among what it holds (primaryLost). */
  private primaryMarked = false;
  /** Its sockets were disconnected (the last resort): nothing left to catch up. */
  private reset = false;
  private closed = false;

  constructor(private readonly options: StandingOptions) {
    this.lastOwnEcho = options.clock.now();
  }

  get isMember(): boolean {
    return this.state === 'member';
  }

  /** The first registration, at lift. */
  async join(): Promise<void> {
    const { registry, peers, uid } = this.options;
    const registration = await registry.register(uid, '', [], '', this.nextAttempt(), '');
    this.gen = registration.gen;
    peers.syncWith(registration.servers, uid, false, peers.helloClock());
    this.lastOwnEcho = this.options.clock.now();
  }

  /** This server's own heartbeat came back through Redis: the cluster hears it. */
  heardOwnEcho(): void {
    this.lastOwnEcho = this.options.clock.now();
    if (this.state === 'member' || this.hearsItself) return;
    this.hearsItself = true;
    void this.check();
  }

  /** It may be cut off: hold what it receives until it knows. */
  hold(reason: string): void {
    if (this.closed || this.state !== 'member') return;
    this.state = 'holding';
    this.holdingSince = this.options.clock.now();
    this.reason = reason;
    this.hearsItself = false;
    this.options.gate.hold();
    if (this.options.linkReady()) this.options.probe();
  }

  /** Its fence notice, read among the messages: everything after it was sent without counting on this server. */
  fenceNotice(): void {
    if (this.closed) return;
    this.hold('the cluster fenced it');
    this.options.gate.mark();
    this.changes++;
    // It read the notice: its subscription works.
    this.hearsItself = true;
    this.becameFenced();
    void this.check();
  }

  /** Its subscriber connection was lost: a fence notice sent meanwhile would be lost with it. */
  subscriberLost(): void {
    if (this.closed) return;
    this.hold('it lost its subscriber connection to Redis');
    this.options.gate.mark();
    this.changes++;
    this.hearsItself = false;
  }

  /** Another server says this one's catch-up record was lost with Redis' data. */
  lostNotice(): void {
    if (this.closed) return;
    this.hold('Redis lost its catch-up record');
    this.changes++;
    this.lastResort('another server says Redis lost its catch-up record while it was fenced', false);
  }

  /** Both connections are up again: once it hears itself, it checks. */
  linkReady(): void {
    if (this.state === 'member') return;
    this.hearsItself = false;
    this.options.probe();
  }

  /** Every heartbeat: a member checks it still hears itself; a holding server retries, or gives up. */
  tick(): void {
    if (this.closed) return;
    const now = this.options.clock.now();
    if (this.state === 'member') {
      if (!this.options.linkReady()) this.hold('it lost its connection to Redis');
      else if (now - this.lastOwnEcho > DEAF_AFTER_MS) this.hold(`it had not heard its own heartbeat for ${seconds(now - this.lastOwnEcho)} s`);
      if (!this.primaryConfirmed()) this.primaryLost();
      return;
    }
    if (!this.primaryConfirmed()) this.primaryLost();
    if (this.options.gate.overflowed) {
      this.lastResort(`it held more than ${this.options.gate.size} messages while it could not check with Redis`, false);
      return;
    }
    void this.check();
  }

  /** The sentinels confirmed its Redis as the primary: a holding server may check now. */
  primaryConfirmedNow(): void {
    if (!this.primaryConfirmed()) return;
    this.primaryMarked = false;
    if (this.state !== 'member') void this.check();
  }

  /**
   * The sentinels stopped confirming its Redis. What it receives from now on may come from a primary
   * they replaced, in no order with the fence the cluster made on the new one: the catch-up goes
   * before all of it. (What it let through until now came before the others could fence it: they
   * wait 3.5 s, it stops trusting a primary 2.5 s after the sentinels last confirmed it.)
   */
  private primaryLost(): void {
    if (this.primaryMarked) return;
    this.primaryMarked = true;
    this.hold(`the sentinels had not confirmed its Redis as the primary for ${DEAF_AFTER_MS / 1000} s: ${this.options.primary!.reason()}`);
    this.options.gate.mark();
    this.changes++;
  }

  close(): void {
    this.closed = true;
  }

  /** Without Sentinel, always; behind it, if the sentinels confirmed its Redis recently enough (as hearing itself must be). */
  private primaryConfirmed(): boolean {
    const { primary, clock } = this.options;
    return primary === undefined || clock.now() - primary.confirmedAt() <= DEAF_AFTER_MS;
  }

  private nextAttempt(): string {
    return `${this.options.uid}:${++this.attempts}`;
  }

  private becameFenced(): void {
    if (this.state === 'fenced') return;
    this.state = 'fenced';
    this.options.emit('rooms:fenced', { id: this.options.uid, reason: this.reason });
  }

  /** Registers again and acts on what the record says. */
  private async check(): Promise<void> {
    const { registry, peers, uid, clock, gate, local } = this.options;
    if (this.checking || this.closed || this.state === 'member' || !this.hearsItself || !this.options.linkReady() || !this.primaryConfirmed()) return;
    this.checking = true;
    const changes = this.changes;
    const lastMark = gate.lastMark;
    const helloClock = peers.helloClock();
    const attempt = this.nextAttempt();
    // Changes from now on may come after a fence this registration does not see: kept if overtaken.
    const sentAt = clock.wallNow();
    local.beatSent(sentAt);
    const membersNow = new Set(peers.live());
    const knownFenced = peers.fenced();
    let registration;
    try {
      registration = await registry.register(uid, this.gen, knownFenced, this.options.lostNotice(knownFenced), attempt, this.applied);
    } catch {
      return; // Redis went away again: retried on the next heartbeat or 'ready' (its hand-over, if any, stays).
    } finally {
      this.checking = false;
    }
    if (this.closed || this.isMember) return;

    const recordLost = this.gen !== '' && registration.gen !== this.gen;
    this.gen = registration.gen;
    if (recordLost) {
      this.membersBefore = membersNow;
      this.waitUntil = clock.now() + Math.max(this.options.timeoutMs, RECORD_LOST_WAIT_MS);
    }
    peers.syncWith(registration.servers, uid, this.membersBefore !== undefined, helloClock);
    const fenced = registration.entries.length > 0 || registration.previous === 'fenced';

    // From here on the record says this server is a member: registering made it one.
    if (this.reset) {
      // After the last resort (its sockets gone) there is nothing to catch up.
      if (this.changes === changes) return this.release(undefined, attempt, sentAt);
      this.releaseUntil(undefined, attempt, lastMark);
      return this.check();
    }
    if (registration.previous === 'lost') return this.lastResort('its catch-up record was lost (it overflowed, or Redis lost it while this server was fenced)', true, attempt);
    if (recordLost && this.state === 'fenced') return this.lastResort('Redis lost the cluster\'s record while this server was fenced: its catch-up record is gone', true, attempt);
    if (registration.previous === 'absent' && !recordLost && this.membersBefore === undefined) {
      return this.lastResort('it is no longer in the cluster\'s record (fenced for longer than the record keeps a server)', true, attempt);
    }
    if (this.changes !== changes) {
      // Overtaken (fenced again, or cut, since it was sent): true only up to that mark.
      if (fenced) this.becameFenced();
      this.releaseUntil(fenced ? registration.entries : undefined, attempt, lastMark);
      return this.check();
    }
    if (this.membersBefore) {
      if (fenced) return this.lastResort('it was fenced while it waited for the servers it knew to register again', true, attempt);
      // Each of them marked as lost, when it registered, the servers it knew fenced: once all have, this one's state says it all.
      for (const [peer, { state }] of registration.servers) if (state === 'member') this.membersBefore.delete(peer);
      if (this.membersBefore.size > 0) {
        if (clock.now() <= this.waitUntil) return; // asked again on the next heartbeat
        const missing = [...this.membersBefore].join(', ');
        return this.lastResort(`Redis lost the cluster's record, and server(s) it knew (${missing}) did not register again within `
          + `${seconds(Math.max(this.options.timeoutMs, RECORD_LOST_WAIT_MS))} s: it cannot tell whether they had fenced it`, true, attempt);
      }
      this.membersBefore = undefined;
    }
    if (fenced) this.becameFenced();
    this.release(fenced ? registration.entries : undefined, attempt, sentAt);
  }

  /**
   * What a registration overtaken by a later mark says holds up to that mark: the catch-up (if
   * any) and what was held before it go through; the rest stays held for the next registration.
   */
  private releaseUntil(entries: string[] | undefined, attempt: string, lastMark: number): void {
    const { gate, local, nsp } = this.options;
    let outcome: CatchUpOutcome | undefined;
    gate.release(entries !== undefined, {
      catchUp: () => { outcome = applyCatchUp(nsp, entries ?? [], local); },
      request: (message, afterFence) => { if (!afterFence) this.options.handleRequest(message, false); },
    }, lastMark);
    this.applied = attempt;
    gate.hold();
    if (outcome && outcome.unreadable > 0) this.lastResort(`its catch-up record held ${outcome.unreadable} entries it cannot read (written by a newer protocol?)`, true, attempt);
  }

  /** Member again: the catch-up (if it was fenced) where the fence stood, then what was held. */
  private release(entries: string[] | undefined, attempt: string, sentAt: number): void {
    const { gate, local, nsp, peers, clock, log } = this.options;
    const fenced = entries !== undefined;
    if (fenced && local.overflowed) return this.lastResort('it changed more memberships while cut off than it keeps track of', true, attempt);
    const heldMs = clock.now() - this.holdingSince;
    let outcome: CatchUpOutcome | undefined;
    this.state = 'member';
    this.reset = false;
    this.applied = attempt;
    gate.release(fenced, {
      catchUp: () => { outcome = applyCatchUp(nsp, entries ?? [], local); },
      // Requests held after the fence were sent by servers that no longer counted on this one;
      // those before it are applied, not answered (their senders fenced this server meanwhile).
      request: (message, afterFence) => { if (!afterFence) this.options.handleRequest(message, !fenced); },
    });
    // What was changed here before this registration was sent is known to the cluster now.
    local.beatEchoed(sentAt);
    this.lastOwnEcho = clock.now();
    peers.heardFromEveryoneNow();
    if (outcome && outcome.unreadable > 0) {
      this.state = 'holding';
      return this.lastResort(`its catch-up record held ${outcome.unreadable} entries it cannot read (written by a newer protocol?)`, true, attempt);
    }
    if (fenced) {
      const { removals = 0, left = 0, disconnected = [] } = outcome ?? {};
      log.warn(`sails-hook-rooms: this server was cut off from the cluster for ${seconds(heldMs)} s (${this.reason}) and fenced; `
        + `it applied the ${removals} removal(s) confirmed without it (${left} membership(s) taken out)`
        + (disconnected.length > 0 ? ` and disconnected ${disconnected.length} socket(s) whose rooms also changed here meanwhile` : '')
        + '. It is a member again.');
      this.options.emit('rooms:rejoined', { id: this.options.uid, heldMs, removals, left, disconnected: disconnected.length, lastResort: false });
    }
    this.options.becameMember();
  }

  /**
   * Disconnects every socket of this server (their clients reconnect and join their rooms again),
   * and says why. `registered`: a registration (`attempt`) made it a member, and it registers no more.
   */
  private lastResort(reason: string, registered: boolean, attempt?: string): void {
    const { gate, local, nsp, clock, log } = this.options;
    const sockets = [...nsp.sockets.values()];
    for (const socket of sockets) socket.disconnect(true);
    gate.drop();
    local.clear(clock.wallNow());
    const heldMs = clock.now() - this.holdingSince;
    log.warn(`sails-hook-rooms: ${reason}. This server cannot prove it is up to date with the cluster after ${seconds(heldMs)} s `
      + `cut off (${this.reason}), so it disconnected its ${sockets.length} socket(s): their clients reconnect and join their rooms again.`);
    this.options.emit('rooms:rejoined', { id: this.options.uid, heldMs, removals: 0, left: 0, disconnected: sockets.length, lastResort: true, reason });
    this.membersBefore = undefined;
    this.reset = true;
    if (registered) return this.release(undefined, attempt!, clock.wallNow());
    gate.hold();
    if (this.options.linkReady()) this.options.probe();
  }
}
