/**
 * Publishing with coalescing. A message sent while none of this outbox's PUBLISH commands is on
 * its way leaves at once. Otherwise it waits for the end of the tick (or of the PUBLISH from
 * another server being handled) and leaves with the others sent on its channel meanwhile, in one
 * PUBLISH, as a JSON array of them (at most MAX_BATCH each). One operation at a time then waits
 * for nothing; many in flight cost a few Redis commands and a few wake-ups of each receiver,
 * instead of one each.
 */

import { createTickBatch } from '../../tick-batch';

/** Messages per PUBLISH at most: a receiver handles one PUBLISH in one go. */
export const MAX_BATCH = 500;

/** Told how the PUBLISH carrying a message went: how many subscribers received it, or why it failed. */
export type Sent = (err: unknown, receivers?: number) => void;

type Publish = (channel: string, payload: string) => Promise<number>;

interface Batch {
  channel: string;
  messages: string[];
  /** Not one per message: only the senders that want to know. */
  onSent: Sent[];
}

/** What a PUBLISH carries: one message as it is, several as a JSON array. */
function payloadOf(messages: string[]): string {
  return messages.length === 1 ? messages[0]! : `[${messages.join(',')}]`;
}

export interface Outbox {
  /** Publishes a JSON message, at once or with the others sent on `channel` in this tick, in the order they were sent. */
  send(channel: string, message: string, onSent?: Sent): void;
  /**
   * Runs `work(arg)` (e.g. handling a PUBLISH from another server), then publishes at once what
   * it and the tick before it queued: replies need not wait for the tick to end.
   */
  sendingFrom<T>(work: (arg: T) => void, arg: T): void;
}

/** Sends `message` on every channel of `channels`; `onAllSent` is told once: the first failure, or that all went. */
export function sendToEach(send: Outbox['send'], channels: readonly string[], message: string, onAllSent: (err: unknown) => void): void {
  // The usual case, a by-ID request to one server or a broadcast: nothing to count.
  if (channels.length === 1) return send(channels[0]!, message, onAllSent);
  let unsent = channels.length;
  let failed = false;
  for (const channel of channels) {
    send(channel, message, (err) => {
      if (failed) return;
      if (err) {
        failed = true;
        return onAllSent(err);
      }
      if (--unsent === 0) onAllSent(null);
    });
  }
}

/** A failed PUBLISH is reported to the `onSent` of its messages only. */
export function createOutbox(publish: Publish): Outbox {
  /** Batches waiting, in the order they were opened; a channel's last one takes its next messages. */
  let queued: Batch[] = [];
  /** PUBLISH commands Redis has not answered yet. */
  let onTheirWay = 0;
  const answered = () => { onTheirWay--; };

  const publishBatch = ({ channel, messages, onSent }: Batch) => {
    onTheirWay++;
    let sent: Promise<number>;
    try {
      sent = publish(channel, payloadOf(messages));
    } catch (err) {
      sent = Promise.reject(err);
    }
    if (onSent.length === 0) {
      sent.then(answered, answered);
      return;
    }
    sent.then(
      (receivers) => {
        onTheirWay--;
        for (const told of onSent) told(null, receivers);
      },
      (err: unknown) => {
        onTheirWay--;
        for (const told of onSent) told(err);
      },
    );
  };

  const waiting = createTickBatch(() => {
    const batches = queued;
    queued = [];
    for (const batch of batches) publishBatch(batch);
  });

  /** The batch `channel` adds to: a few channels wait at a time, the last one most often. */
  const openBatchOf = (channel: string): Batch => {
    for (let i = queued.length - 1; i >= 0; i--) {
      const batch = queued[i]!;
      if (batch.channel !== channel) continue;
      if (batch.messages.length < MAX_BATCH) return batch;
      break;
    }
    const batch: Batch = { channel, messages: [], onSent: [] };
    queued.push(batch);
    return batch;
  };

  return {
    send(channel, message, onSent) {
      if (queued.length === 0) {
        if (onTheirWay === 0) {
          publishBatch({ channel, messages: [message], onSent: onSent ? [onSent] : [] });
          return;
        }
        waiting.queued();
      }
      const batch = openBatchOf(channel);
      batch.messages.push(message);
      if (onSent) batch.onSent.push(onSent);
    },
    sendingFrom(work, arg) {
      waiting.around(work, arg);
    },
  };
}
