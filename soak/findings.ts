/**
 * What the soak found as it ran: anomalies for the report, each socket's recent operations (what an
 * anomaly shows of it), and answers judged once the run is over, when the whole timeline (when each
 * fault recovered) and every disconnect are known.
 */
import { roomKey } from './load';
import type { Timeline } from './timeline';

/** A disconnect noticed this long after an answer may still have happened before it. */
const DISCONNECT_NOTICE_MS = 2000;
const MAX_ANOMALIES = 50;
const HISTORY_PER_SOCKET = 40;
/** Of those, kept with each answer to judge (there are as many as operations). */
const BEFORE_KEPT = 16;

/** An answer to judge at the end: a result's counts, or a query's rooms or members. */
export interface Judgement {
  kind: 'result count' | 'query';
  /** The sockets it is about: one disconnected meanwhile excuses it (its server dropped it). */
  socketIds: readonly string[];
  start: number;
  end: number;
  /** What is wrong with the answer (empty: nothing), or null when a fault excuses it. */
  problems(timeline: Timeline): string[] | null;
  /** What the anomaly reports. */
  entry: Record<string, unknown>;
  /** The operations on its room (and socket) until it was answered: set by judgeLater. */
  before?: Record<string, string[]>;
}

export interface Verdicts {
  resultCountMismatches: number;
  onlineQueryMismatches: number;
  /** Answers about a socket its server disconnected meanwhile: not judged. */
  excusedByDisconnect: number;
  /** Answers a fault explains (e.g. the partitioned server answering from what it alone knew). */
  excusedByFault: number;
}

export class Findings {
  readonly anomalies: unknown[] = [];
  /** Per socket, the operations that named it or its rooms; per room ('room <name>'), those that changed it. */
  readonly history = new Map<string, string[]>();
  /** Recovery probes confirmed without a live server that their result did not count as cut off. */
  probeMismatches = 0;
  private readonly judgements: Judgement[] = [];

  anomaly(entry: Record<string, unknown>): void {
    if (this.anomalies.length < MAX_ANOMALIES) this.anomalies.push(entry);
  }

  trace(ids: Iterable<string>, line: string): void {
    for (const id of ids) {
      const lines = this.history.get(id) ?? [];
      lines.push(line);
      if (lines.length > HISTORY_PER_SOCKET) lines.shift();
      this.history.set(id, lines);
    }
  }

  judgeLater(judgement: Judgement): void {
    // What led to the answer, as it was then (the histories keep only the latest operations).
    const { sourceRoom, room = sourceRoom, socket } = judgement.entry as { sourceRoom?: string; room?: string; socket?: string };
    const keys = [...(room === undefined ? [] : [roomKey(room)]), ...(socket === undefined ? [] : [socket])];
    judgement.before = Object.fromEntries(keys.map((key) => [key, (this.history.get(key) ?? []).slice(-BEFORE_KEPT)]));
    this.judgements.push(judgement);
  }

  /** Judges the answers kept for the end: `disconnectedAt` tells when a socket's client saw its server drop it. */
  judge(timeline: Timeline, disconnectedAt: (socketId: string) => number | undefined): Verdicts {
    const verdicts: Verdicts = { resultCountMismatches: 0, onlineQueryMismatches: 0, excusedByDisconnect: 0, excusedByFault: 0 };
    for (const judgement of this.judgements) {
      const gone = judgement.socketIds.some((id) => {
        const at = disconnectedAt(id);
        return at !== undefined && at >= judgement.start && at <= judgement.end + DISCONNECT_NOTICE_MS;
      });
      if (gone) {
        verdicts.excusedByDisconnect += 1;
        continue;
      }
      const problems = judgement.problems(timeline);
      if (problems === null) {
        verdicts.excusedByFault += 1;
        continue;
      }
      if (problems.length === 0) continue;
      if (judgement.kind === 'result count') verdicts.resultCountMismatches += 1;
      else verdicts.onlineQueryMismatches += 1;
      this.anomaly({ kind: judgement.kind, ...judgement.entry, at: `${timeline.since(judgement.start)}..${timeline.since(judgement.end)}`, problems: problems.slice(0, 5), before: judgement.before });
    }
    return verdicts;
  }
}
