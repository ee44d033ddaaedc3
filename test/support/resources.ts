/** What the process holds open (servers, sockets, timers), to check that nothing is left behind. */
import net from 'node:net';
import { waitFor } from './events';

export type ResourceCounts = Record<string, number>;

/** How many resources of each type keep the event loop alive right now. */
export function activeResourceCounts(): ResourceCounts {
  const counts: ResourceCounts = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

/** The resource types of which there are more now than in `baseline`, with both counts. */
export function resourcesAbove(baseline: ResourceCounts): Record<string, { baseline: number; now: number }> {
  const excess: Record<string, { baseline: number; now: number }> = {};
  for (const [type, now] of Object.entries(activeResourceCounts())) {
    const before = baseline[type] ?? 0;
    if (now > before) excess[type] = { baseline: before, now };
  }
  return excess;
}

/** Waits until no resource type is above `baseline`; the error lists what is still open. */
export async function waitForResourcesBackTo(baseline: ResourceCounts, timeoutMs = 5000): Promise<void> {
  try {
    await waitFor(() => Object.keys(resourcesAbove(baseline)).length === 0, 'open resources to go back to the baseline', timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}; still above it: ${JSON.stringify(resourcesAbove(baseline))}`);
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:`port` right now. */
export function isPortListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => { socket.destroy(); resolve(false); });
  });
}

/**
 * Records the intervals created from now on and which of them are cleared, with where each was
 * created. Unref'd intervals keep no process alive, so process.getActiveResourcesInfo() never
 * shows one that was left running: this does.
 */
export function trackIntervals(): { running(createdIn: RegExp): string[]; stop(): void } {
  const originals = { setInterval: global.setInterval, clearInterval: global.clearInterval, clearTimeout: global.clearTimeout };
  const live = new Map<unknown, string>();
  const forget = (timer: unknown) => { live.delete(timer); };
  global.setInterval = ((...args: Parameters<typeof setInterval>) => {
    const timer = originals.setInterval(...args);
    live.set(timer, new Error('interval created').stack ?? '');
    return timer;
  }) as typeof setInterval;
  global.clearInterval = ((timer?: Parameters<typeof clearInterval>[0]) => { forget(timer); originals.clearInterval(timer); }) as typeof clearInterval;
  // clearTimeout() clears an interval too.
  global.clearTimeout = ((timer?: Parameters<typeof clearTimeout>[0]) => { forget(timer); originals.clearTimeout(timer); }) as typeof clearTimeout;
  return {
    running: (createdIn) => [...live.values()].filter((stack) => createdIn.test(stack)),
    stop: () => { Object.assign(global, originals); },
  };
}
