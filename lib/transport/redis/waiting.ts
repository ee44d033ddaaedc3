/**
 * Cluster operations waiting for Redis (`sails.config.rooms.whenRedisDown: 'wait'`). One asked
 * while this server cannot send it (its link to Redis down, or not a member while it checks
 * whether it was cut off, standing.ts) waits here unsent, behind those asked before it; they leave
 * in the order they were asked, as soon as it can send again. One still here at its deadline (its
 * call + `timeout`) fails and is never sent: no other server applies it, then or later.
 *
 * Only what was never sent waits. A request already sent when the subscriber connection drops
 * fails as before (node.ts): a reply lost meanwhile cannot be told from a request never applied,
 * and sending it again could apply it a second time, after changes confirmed since.
 */
import { RoomsError } from '../../errors';
import type { Clock, Timer } from './clock';

/** How many operations may wait at most: past that, one fails at once, so memory stays bounded. */
export const MAX_WAITING = 100_000;

/** What waits: its deadline, and how it is told it failed. */
export interface WaitingOperation {
  /** When it fails if it still waits (clock.now()): its call + `timeout`. */
  readonly deadline: number;
  done(err: RoomsError): void;
}

export interface WaitingOptions<T extends WaitingOperation> {
  clock: Clock;
  /** sails.config.rooms.timeout, for the messages. */
  timeoutMs: number;
  /** Both connections to Redis are up. */
  linkReady(): boolean;
  /** This server is a member of the cluster (not holding or fenced). */
  isMember(): boolean;
  /** Sends an operation that waited (its deadline not passed). */
  send(operation: T): void;
  limit?: number;
}

const NEVER_SENT = 'nothing was sent to the other servers: a change was applied on this server only, and no other server will apply it';

export class WaitingOperations<T extends WaitingOperation> {
  /** In the order they were asked, from `head` on (a queue of up to MAX_WAITING: no shift()). */
  private queue: Array<T | undefined> = [];
  private head = 0;
  private expiryTimer: Timer | undefined;
  private closedWith: RoomsError | undefined;
  /** The error of those refused while it is full, made once per outage: a burst may be refused by the thousand. */
  private fullError: RoomsError | undefined;
  private readonly limit: number;

  constructor(private readonly options: WaitingOptions<T>) {
    this.limit = options.limit ?? MAX_WAITING;
  }

  get size(): number {
    return this.queue.length - this.head;
  }

  /** Whether an operation asked now must wait: it cannot be sent, or others wait before it. */
  mustWait(): boolean {
    return this.size > 0 || !this.canSend();
  }

  /** Keeps `operation` until it can be sent; if lowered or full, it fails at once (after add() returned). */
  add(operation: T): void {
    const refused = this.closedWith ?? (this.size >= this.limit ? (this.fullError ??= this.full()) : undefined);
    if (refused) {
      process.nextTick(() => operation.done(refused));
      return;
    }
    this.queue.push(operation);
    this.scheduleExpiry();
  }

  /** Sends what waits, in order, while it can; what is past its deadline fails unsent. */
  flush(): void {
    this.expire();
    while (this.size > 0 && this.canSend()) this.options.send(this.take());
    this.compact();
  }

  /** Fails what waits with `err`, and every operation added from now on. */
  close(err: RoomsError): void {
    this.closedWith = err;
    this.expiryTimer?.cancel();
    this.expiryTimer = undefined;
    while (this.size > 0) this.take().done(err);
    this.compact();
  }

  private canSend(): boolean {
    return this.options.linkReady() && this.options.isMember();
  }

  private take(): T {
    const operation = this.queue[this.head]!;
    this.queue[this.head++] = undefined;
    return operation;
  }

  private compact(): void {
    if (this.size === 0) {
      this.queue = [];
      this.head = 0;
      this.fullError = undefined;
      this.expiryTimer?.cancel();
      this.expiryTimer = undefined;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * Fails, unsent, those whose deadline passed: they were asked in order, each with the same
   * `timeout`. They share one error, as the requests a lost connection fails do (requests.ts):
   * making its stack costs more than the rest of an operation.
   */
  private expire(): void {
    const now = this.options.clock.now();
    let err: RoomsError | undefined;
    while (this.size > 0 && this.queue[this.head]!.deadline <= now) this.take().done(err ??= this.expired());
  }

  private scheduleExpiry(): void {
    if (this.expiryTimer || this.size === 0) return;
    const oldest = this.queue[this.head]!;
    this.expiryTimer = this.options.clock.setTimeout(() => {
      this.expiryTimer = undefined;
      this.expire();
      this.compact();
      this.scheduleExpiry();
    }, oldest.deadline - this.options.clock.now());
  }

  private expired(): RoomsError {
    const awaited = this.options.linkReady()
      ? 'this server to finish checking with Redis whether it was cut off from the cluster'
      : 'Redis to come back';
    return new RoomsError('E_UNAVAILABLE', `sails-hook-rooms waited ${this.options.timeoutMs} ms (sails.config.rooms.timeout) for ${awaited} `
      + `(whenRedisDown: 'wait'), in vain: ${NEVER_SENT}. Check Redis; the hook reconnects by itself.`);
  }

  private full(): RoomsError {
    return new RoomsError('E_UNAVAILABLE', `sails-hook-rooms: ${this.limit} cluster operations already wait for Redis (whenRedisDown: 'wait'), `
      + `the most it keeps, so this one fails at once: ${NEVER_SENT}. Check Redis; the hook reconnects by itself.`);
  }
}
