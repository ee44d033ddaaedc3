import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Gate, gatedSubscriber, MAX_HELD } from '../../lib/transport/redis/gate';
import type { Message } from '../../lib/transport/redis/wire';

type Request = Extract<Message, { t: 'request' }>;
const request = (id: number): Request => ({
  from: 'a', sentAt: 0, t: 'request', id, reply: true, ttl: 1000, request: { kind: 'membersOf', room: `r${id}` },
});

/** Releases `gate`, recording everything let through, in order. */
function releaseAll(gate: Gate, fenced: boolean) {
  const seen: string[] = [];
  gate.release(fenced, {
    request: (message, afterFence) => seen.push(`request ${message.id}${afterFence ? ' after the fence' : ''}`),
    catchUp: () => seen.push('catch-up'),
  });
  return seen;
}

describe('the gate that holds what a server receives while it may be cut off', () => {
  it('lets everything through at once when not holding', () => {
    const gate = new Gate();
    const delivered: unknown[] = [];
    gate.deliver((...args) => delivered.push(args), ['broadcast', 'channel']);
    assert.deepEqual(delivered, [['broadcast', 'channel']]);
    assert.equal(gate.heldRequest(request(1)), false, 'the caller handles the request');
  });

  it('holds requests and adapter messages, and lets them through in the order they came', () => {
    const gate = new Gate();
    const seen: string[] = [];
    gate.hold();
    gate.deliver(() => seen.push('broadcast 1'), []);
    assert.equal(gate.heldRequest(request(1)), true);
    gate.deliver(() => seen.push('broadcast 2'), []);
    assert.equal(gate.size, 3);
    assert.equal(seen.length, 0, 'nothing before the release');
    gate.release(false, { request: (m) => seen.push(`request ${m.id}`), catchUp: () => seen.push('catch-up') });
    assert.deepEqual(seen, ['broadcast 1', 'request 1', 'broadcast 2'], 'no catch-up when not fenced');
    assert.equal(gate.holding, false);
  });

  it('fenced: applies the catch-up where the fence notice stood, and marks the requests after it', () => {
    const gate = new Gate();
    const seen: string[] = [];
    gate.hold();
    gate.heldRequest(request(1));
    gate.deliver(() => seen.push('broadcast before'), []);
    gate.mark();
    gate.heldRequest(request(2));
    gate.deliver(() => seen.push('broadcast after'), []);
    gate.release(true, { request: (m, after) => seen.push(`request ${m.id}${after ? ' after the fence' : ''}`), catchUp: () => seen.push('catch-up') });
    assert.deepEqual(seen, ['request 1', 'broadcast before', 'catch-up', 'request 2 after the fence', 'broadcast after']);
  });

  it('fenced without having read its notice (it was disconnected): the catch-up comes first, every request is after the fence', () => {
    const gate = new Gate();
    gate.hold();
    gate.heldRequest(request(1));
    assert.deepEqual(releaseAll(gate, true), ['catch-up', 'request 1 after the fence']);
  });

  it('a fence notice that turned out stale (registered since) changes nothing', () => {
    const gate = new Gate();
    gate.hold();
    gate.mark();
    gate.heldRequest(request(1));
    assert.deepEqual(releaseAll(gate, false), ['request 1']);
  });

  it('overtaken by a later mark (fenced again, or cut), lets through only what came before it, and keeps holding the rest', () => {
    const gate = new Gate();
    const seen: string[] = [];
    const handle = { request: (m: Request, after: boolean) => seen.push(`request ${m.id}${after ? ' after the fence' : ''}`), catchUp: () => seen.push('catch-up') };
    gate.hold();
    gate.mark();
    const registeredAfter = gate.lastMark;
    gate.heldRequest(request(1));
    gate.mark(); // a second fence, after the registration
    gate.heldRequest(request(2));
    gate.release(true, handle, registeredAfter);
    assert.deepEqual(seen, ['catch-up', 'request 1 after the fence']);
    assert.equal(gate.holding, true);
    gate.release(true, handle);
    assert.deepEqual(seen, ['catch-up', 'request 1 after the fence', 'catch-up', 'request 2 after the fence']);
  });

  it('says when it holds more than it may, and forgets it all on drop', () => {
    const gate = new Gate();
    gate.hold();
    for (let i = 0; i <= MAX_HELD; i++) gate.deliver(() => {}, []);
    assert.equal(gate.overflowed, true);
    gate.drop();
    assert.equal(gate.holding, false);
    assert.equal(gate.size, 0);
  });
});

describe('the subscribing client as socket.io adapter sees it', () => {
  it('calls node-redis listeners through the gate, and unsubscribes the same listener', async () => {
    const listeners = new Map<string, (...args: any[]) => void>();
    const client = {
      isReady: true,
      pSubscribe: async (pattern: string, listener: (...args: any[]) => void) => { listeners.set(pattern, listener); },
      pUnsubscribe: async (pattern: string, listener: (...args: any[]) => void) => {
        if (listeners.get(pattern) === listener) listeners.delete(pattern);
      },
    };
    const gate = new Gate();
    const view = gatedSubscriber(client, gate);
    const received: unknown[] = [];
    const adapterListener = (message: string, channel: string) => received.push([message, channel]);
    await view.pSubscribe('socket.io#/#*', adapterListener, true);
    assert.equal(view.isReady, true, 'properties read through');
    gate.hold();
    listeners.get('socket.io#/#*')!('m1', 'socket.io#/#');
    assert.deepEqual(received, []);
    releaseAll(gate, false);
    assert.deepEqual(received, [['m1', 'socket.io#/#']]);
    await view.pUnsubscribe('socket.io#/#*', adapterListener, true);
    assert.equal(listeners.size, 0, 'the wrapped listener was the one removed');
  });

  it('calls ioredis message listeners through the gate, leaves other events alone, and returns the view for chaining', () => {
    const client = new EventEmitter();
    const gate = new Gate();
    const view = gatedSubscriber(client as any, gate);
    const received: unknown[] = [];
    const onMessage = (channel: unknown, message: unknown) => received.push(String(message));
    assert.equal(view.on('messageBuffer', onMessage), view);
    let errors = 0;
    view.on('error', () => { errors++; });
    gate.hold();
    client.emit('messageBuffer', 'ch', Buffer.from('m1'));
    client.emit('error', new Error('x'));
    assert.deepEqual(received, []);
    assert.equal(errors, 1, 'only messages are held');
    releaseAll(gate, false);
    assert.deepEqual(received, ['m1']);
    view.off('messageBuffer', onMessage);
    assert.equal(client.listenerCount('messageBuffer'), 0);
  });
});
