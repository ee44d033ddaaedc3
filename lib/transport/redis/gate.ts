/**
 * What this server receives from the cluster, held while it does not know whether it was fenced
 * (after a lost connection, a silence, or a fence notice), and let through in arrival order once
 * it knows. Held, not dropped: a broadcast to a room a socket joined with a confirmed join must
 * still reach it. Both the hook's requests and everything socket.io's adapter receives
 * (broadcasts above all) pass here, in the order Redis delivered them.
 *
 * If the server was fenced, the catch-up is applied where the fence notice stood among them, or
 * where its subscriber connection was lost (a notice sent then was lost with it), or first:
 * requests after it were sent by servers that no longer counted on this one, and are dropped.
 * A registration can be overtaken by such a mark (a fence after it): then only what came before
 * the mark is let through, and the rest stays held for the next registration.
 */
import type { AnyRedisClient } from './clients';
import type { Message } from './wire';

/** Messages held at most (a server that cannot check for longer takes the last resort). */
export const MAX_HELD = 50_000;

type Held =
  | { kind: 'request'; message: Extract<Message, { t: 'request' }> }
  | { kind: 'adapter'; listener: (...args: any[]) => void; args: any[] }
  /** Where this server may have been fenced: its fence notice, or its subscriber lost. */
  | { kind: 'mark'; seq: number };

export interface Release {
  /** A request held; `afterFence` when it came after this server was fenced. */
  request(message: Extract<Message, { t: 'request' }>, afterFence: boolean): void;
  /** Where the fence stood: apply the catch-up. Not called if the server was not fenced. */
  catchUp(): void;
}

export class Gate {
  private held: Held[] | undefined;
  /** Marks ever made: a registration sent after mark n is overtaken by mark n + 1. */
  private marks = 0;

  /** The last mark made so far. */
  get lastMark(): number {
    return this.marks;
  }

  get holding(): boolean {
    return this.held !== undefined;
  }

  get size(): number {
    return this.held?.length ?? 0;
  }

  get overflowed(): boolean {
    return this.size > MAX_HELD;
  }

  hold(): void {
    this.held ??= [];
  }

  /** A request from another server: true if it was held (the caller handles it otherwise). */
  heldRequest(message: Extract<Message, { t: 'request' }>): boolean {
    if (!this.held) return false;
    this.held.push({ kind: 'request', message });
    return true;
  }

  /** This server's fence notice read among the other messages, or its subscriber connection lost. */
  mark(): void {
    this.hold();
    this.held!.push({ kind: 'mark', seq: ++this.marks });
  }

  /** Delivers a message to socket.io's adapter, or holds it. */
  deliver(listener: (...args: any[]) => void, args: any[]): void {
    if (this.held) this.held.push({ kind: 'adapter', listener, args });
    else listener(...args);
  }

  /**
   * Lets what is held through, in order; `fenced`: the catch-up goes at the first mark. With
   * `untilAfterMark`, stops at the first mark made after that one and keeps holding from there.
   */
  release(fenced: boolean, handle: Release, untilAfterMark?: number): void {
    const held = this.held ?? [];
    const stop = untilAfterMark === undefined ? -1 : held.findIndex((item) => item.kind === 'mark' && item.seq > untilAfterMark);
    const through = stop === -1 ? held : held.slice(0, stop);
    this.held = stop === -1 ? undefined : held.slice(stop);
    let afterFence = fenced && !through.some((item) => item.kind === 'mark');
    if (afterFence) handle.catchUp();
    for (const item of through) {
      if (item.kind === 'mark') {
        if (fenced && !afterFence) handle.catchUp();
        afterFence = fenced;
      } else if (item.kind === 'request') {
        handle.request(item.message, afterFence);
      } else {
        item.listener(...item.args);
      }
    }
  }

  /** Forgets what is held (the last resort: the sockets it was for are disconnected). */
  drop(): void {
    this.held = undefined;
  }
}

/** node-redis subscribe methods, and ioredis message events, whose listeners the adapter passes. */
const SUBSCRIBE_METHODS = new Set(['subscribe', 'pSubscribe', 'sSubscribe', 'unsubscribe', 'pUnsubscribe', 'sUnsubscribe']);
/** The calls that subscribe, in either library. */
const SUBSCRIBING = new Set(['subscribe', 'pSubscribe', 'sSubscribe', 'psubscribe', 'ssubscribe']);
const LISTENER_METHODS = new Set(['on', 'addListener', 'prependListener', 'off', 'removeListener']);
const MESSAGE_EVENTS = new Set(['message', 'messageBuffer', 'pmessage', 'pmessageBuffer', 'smessage', 'smessageBuffer']);

/**
 * The subscribing client as socket.io's adapter sees it: the same client, except that each message
 * listener it registers is called through the gate. What its subscribe calls return goes to
 * `subscriptions`, so the lift can tell whether they succeeded (the adapter does not wait).
 */
export function gatedSubscriber(client: AnyRedisClient, gate: Gate, subscriptions: Array<PromiseLike<unknown>> = []): AnyRedisClient {
  const gated = new WeakMap<(...args: any[]) => void, (...args: any[]) => void>();
  const gatedListener = (listener: (...args: any[]) => void) => {
    let wrapped = gated.get(listener);
    if (!wrapped) {
      wrapped = (...args: any[]) => gate.deliver(listener, args);
      gated.set(listener, wrapped);
    }
    return wrapped;
  };
  const proxy: AnyRedisClient = new Proxy(client, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      // node-redis: (channels, listener, bufferMode); ioredis: (event, listener).
      if (SUBSCRIBE_METHODS.has(property) || SUBSCRIBING.has(property)) {
        return (...args: unknown[]) => {
          if (typeof args[1] === 'function') args[1] = gatedListener(args[1] as (...a: any[]) => void);
          const result = value.apply(target, args);
          if (SUBSCRIBING.has(property) && typeof result?.then === 'function') subscriptions.push(result);
          return result;
        };
      }
      if (LISTENER_METHODS.has(property)) {
        return (event: unknown, listener: unknown) => {
          const wrapped = MESSAGE_EVENTS.has(event as string) && typeof listener === 'function'
            ? gatedListener(listener as (...args: any[]) => void)
            : listener;
          const result = value.call(target, event, wrapped);
          return result === target ? proxy : result;
        };
      }
      return value.bind(target);
    },
  });
  return proxy;
}
