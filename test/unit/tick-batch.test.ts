import assert from 'node:assert/strict';
import { createTickBatch } from '../../lib/tick-batch';

const tick = () => new Promise<void>((resolve) => process.nextTick(resolve));

/** A batch of strings whose flushes are recorded. */
function recordingBatch(onFlush?: (items: string[]) => void) {
  let items: string[] = [];
  const flushes: string[][] = [];
  const batch = createTickBatch(() => {
    const taken = items;
    items = [];
    if (taken.length > 0) flushes.push(taken);
    onFlush?.(taken);
  });
  const add = (item: string) => { items.push(item); batch.queued(); };
  return { batch, add, flushes };
}

describe('a tick batch', () => {
  it('flushes what a tick queued once, at its end', async () => {
    const { add, flushes } = recordingBatch();
    add('a');
    add('b');
    assert.deepEqual(flushes, []);
    await tick();
    assert.deepEqual(flushes, [['a', 'b']]);
    add('c');
    await tick();
    assert.deepEqual(flushes, [['a', 'b'], ['c']]);
  });

  it('flushes what a handler queued when it returns, the outermost one when nested', () => {
    const { batch, add, flushes } = recordingBatch();
    batch.around(() => {
      add('a');
      batch.around(() => add('b'), undefined);
      assert.deepEqual(flushes, [], 'not before the outer handler returns');
    }, undefined);
    assert.deepEqual(flushes, [['a', 'b']]);
  });

  it('lets a flush that throws inside a handler surface from process.nextTick, not from the handler', async () => {
    const { batch, add } = recordingBatch((items) => { if (items.includes('bad')) throw new Error('from the app'); });
    const thrown: unknown[] = [];
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.once('uncaughtException', (err) => thrown.push(err));
    try {
      assert.doesNotThrow(() => batch.around(() => add('bad'), undefined));
      await tick();
    } finally {
      process.removeAllListeners('uncaughtException');
      for (const listener of listeners) process.on('uncaughtException', listener);
    }
    assert.equal((thrown[0] as Error)?.message, 'from the app');
  });
});
