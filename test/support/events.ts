/** Waiting for events and conditions, always with a bounded timeout. */

export interface EventSource {
  on(event: string, listener: (...args: any[]) => void): unknown;
  off(event: string, listener: (...args: any[]) => void): unknown;
}

/** Resolves with the first argument of the next `event`, or rejects after `timeoutMs`. */
export function nextEvent<T = unknown>(source: EventSource, event: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      source.off(event, onEvent);
      reject(new Error(`no '${event}' event within ${timeoutMs} ms`));
    }, timeoutMs);
    function onEvent(value: T) {
      clearTimeout(timer);
      source.off(event, onEvent);
      resolve(value);
    }
    source.on(event, onEvent);
  });
}

/** Records every `event` from now on. */
export function record<T = unknown>(source: EventSource, event: string): { received: T[]; stop(): void } {
  const received: T[] = [];
  const listener = (value: T) => { received.push(value); };
  source.on(event, listener);
  return { received, stop: () => source.off(event, listener) };
}

const POLL_INTERVAL_MS = 10;

/** Polls `condition` until it holds, or rejects after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}
