import assert from 'node:assert/strict';
import { callingBackAfter, callSoon } from '../../lib/completion';
import { createOutbox, MAX_BATCH } from '../../lib/transport/redis/outbox';
import type { RoomsResult } from '../../lib/types';

/** A publish whose commands Redis answers when the test says so. */
function fakeRedis() {
  const published: Array<{ channel: string; payload: string }> = [];
  const answers: Array<{ resolve(receivers: number): void; reject(err: Error): void }> = [];
  const publish = (channel: string, payload: string) => new Promise<number>((resolve, reject) => {
    published.push({ channel, payload });
    answers.push({ resolve, reject });
  });
  return { published, answers, publish };
}

const tick = () => new Promise<void>((resolve) => process.nextTick(resolve));
const RESULT: RoomsResult = { matched: 1, servers: 2, notFound: [], unreachable: [], unreachableServers: 0 };

describe('the outbox of Redis messages', () => {
  it('publishes a message at once when nothing is on its way', () => {
    const redis = fakeRedis();
    const outbox = createOutbox(redis.publish);
    outbox.send('c', '["one"]');
    assert.deepEqual(redis.published, [{ channel: 'c', payload: '["one"]' }]);
  });

  it('sends what comes while a PUBLISH is on its way together at the end of the tick, per channel, in order', async () => {
    const redis = fakeRedis();
    const outbox = createOutbox(redis.publish);
    const told: string[] = [];
    outbox.send('c', '[1]', (err, receivers) => told.push(`1:${String(err)}:${receivers}`));
    outbox.send('c', '[2]', (err, receivers) => told.push(`2:${String(err)}:${receivers}`));
    outbox.send('d', '[3]');
    outbox.send('c', '[4]');
    assert.equal(redis.published.length, 1);
    await tick();
    assert.deepEqual(redis.published, [
      { channel: 'c', payload: '[1]' },
      { channel: 'c', payload: '[[2],[4]]' },
      { channel: 'd', payload: '[3]' },
    ]);
    redis.answers[1]!.resolve(2);
    redis.answers[0]!.reject(new Error('down'));
    await tick();
    assert.deepEqual(told.sort(), ['1:Error: down:undefined', '2:null:2']);
    // Everything was answered: the next message leaves at once again.
    redis.answers[2]!.resolve(1);
    await tick();
    outbox.send('c', '[5]');
    assert.equal(redis.published.length, 4);
  });

  it('splits a long burst into PUBLISH commands of at most MAX_BATCH messages', async () => {
    const redis = fakeRedis();
    const outbox = createOutbox(redis.publish);
    for (let i = 0; i <= 2 * MAX_BATCH; i += 1) outbox.send('c', `[${i}]`);
    await tick();
    const sizes = redis.published.map(({ payload }) => (JSON.parse(payload) as unknown[]).flat().length);
    assert.deepEqual(sizes, [1, MAX_BATCH, MAX_BATCH]);
  });

  it('publishes what a handled message made it send as soon as the handling ends', () => {
    const redis = fakeRedis();
    const outbox = createOutbox(redis.publish);
    outbox.sendingFrom((replies) => {
      for (const reply of replies) outbox.send('reply', reply);
      assert.equal(redis.published.length, 1, 'the first leaves at once, the others wait for the end');
    }, ['["a"]', '["b"]', '["c"]']);
    assert.deepEqual(redis.published, [{ channel: 'reply', payload: '["a"]' }, { channel: 'reply', payload: '[["b"],["c"]]' }]);
  });

  it('reports a publish that throws to the senders that asked, and throws nothing', async () => {
    const outbox = createOutbox(() => { throw new Error('closed'); });
    const told: unknown[] = [];
    assert.doesNotThrow(() => outbox.send('c', '[1]', (err) => told.push(err)));
    await tick();
    assert.equal((told[0] as Error)?.message, 'closed');
  });
});

describe('callbacks completed while a Redis message is handled', () => {
  it('are called when the handling ends, not on a later tick', () => {
    const calls: string[] = [];
    callingBackAfter((names) => {
      for (const name of names) callSoon(() => calls.push(name), null, RESULT);
      assert.deepEqual(calls, []);
    }, ['first', 'second']);
    assert.deepEqual(calls, ['first', 'second']);
  });

  it('throw from process.nextTick, out of the handler, and the others are still called', async () => {
    const calls: string[] = [];
    const mochaListeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    const uncaught = new Promise<Error>((resolve) => process.once('uncaughtException', resolve));
    try {
      assert.doesNotThrow(() => callingBackAfter(() => {
        callSoon(() => { throw new Error('from the app'); }, null, RESULT);
        callSoon(() => calls.push('after'), null, RESULT);
      }, undefined));
      assert.equal((await uncaught).message, 'from the app');
      assert.deepEqual(calls, ['after']);
    } finally {
      for (const listener of mochaListeners) process.on('uncaughtException', listener);
    }
  });
});
