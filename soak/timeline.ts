/**
 * When each fault of the run began and ended, and when the cluster recovered from it: which answers
 * and ordering samples a fault may excuse, and which fault a failure or a disconnect belongs to.
 * The faults engine writes it; the load and the checks read it (the checks once it is complete).
 */

/** How long a server keeps an unanswering peer before fencing it (lib/transport/redis/peers.ts PEER_EXPIRY_MS). */
export const PEER_EXPIRY_MS = 3500;

export type FaultName = 'redisRestart' | 'partition' | 'serverKill';

/** What a fault window needs to know of an ordering sample. */
export interface TimedSample {
  type: 'join' | 'leave' | 'join-unreachable';
  start: number;
  end: number;
  /** The server that confirmed it and sent its announcement, and the socket's own server. */
  issuer: number;
  server: number;
}

export class Timeline {
  mainStart = 0;
  /** Redis killed (the primary, behind Sentinel). */
  redisKilledAt?: number;
  /** A Redis to connect to again: restarted, or the replica promoted (the sentinels' first +switch-master). */
  redisBackAt?: number;
  /** Every server could make whole-cluster operations again. */
  redisRecoveredAt?: number;
  /** Behind Sentinel: the killed primary restarted, synced as a replica of the new one, and counted up by every sentinel. */
  formerPrimaryRejoinedAt?: number;

  /** The server cut off from Redis (through the proxy). */
  partitioned?: number;
  cutAt?: number;
  healedAt?: number;
  /** It said it was a member again (or took the last resort). */
  rejoinedAt?: number;
  /** Every live server could make whole-cluster operations with it again. */
  partitionRecoveredAt?: number;

  victim?: number;
  serverKilledAt?: number;
  serverRecoveredAt?: number;

  constructor(private readonly timeoutMs: number) {}

  /** A time as the traces show it: ms into the measured run. */
  since(time: number): string {
    return `${Math.round(time - (this.mainStart || time))}ms`;
  }

  /** [start, end] overlaps the SIGKILL and the peer expiry after it: results may still count the killed server's sockets. */
  killedDuring(start: number, end: number): boolean {
    return this.serverKilledAt !== undefined && start <= this.serverKilledAt + PEER_EXPIRY_MS && end >= this.serverKilledAt;
  }

  /**
   * The partitioned server, if [start, end] overlaps its partition: from the cut until every server
   * hears it again, and `timeout` after (an operation sent before may wait that long).
   */
  cutOffDuring(start: number, end: number): number | undefined {
    if (this.cutAt === undefined || end < this.cutAt) return undefined;
    const over = this.partitionRecoveredAt ?? this.rejoinedAt;
    return over === undefined || start <= over + this.timeoutMs ? this.partitioned : undefined;
  }

  /** Until it rejoined, the partitioned server answers about its own sockets from what it alone knows. */
  answeredWhileCutOff(server: number, start: number, end: number): boolean {
    return server === this.partitioned && this.cutAt !== undefined && end >= this.cutAt
      && (this.rejoinedAt === undefined || start <= this.rejoinedAt);
  }

  /**
   * The fault that may have lost a sample's announcement: Redis down (any sample, until 2 s after
   * the recovery); or the partition, for a join whose announcement crossed Redis to or from the
   * partitioned server. A leave's announcement, or that of a join that did not reach the socket,
   * must never arrive: no partition excuses it.
   */
  sampleFault(sample: TimedSample): FaultName | undefined {
    if (this.redisKilledAt !== undefined && sample.end >= this.redisKilledAt && sample.start <= (this.redisRecoveredAt ?? Infinity) + 2000) return 'redisRestart';
    const crossedPartition = sample.issuer !== sample.server && (sample.issuer === this.partitioned || sample.server === this.partitioned);
    if (sample.type === 'join' && crossedPartition && this.cutAt !== undefined && sample.end >= this.cutAt
      && sample.start <= (this.partitionRecoveredAt ?? Infinity) + 2000) return 'partition';
    return undefined;
  }

  /** From each fault's start until `timeout` after the cluster recovered from it (Infinity: it did not). */
  windows(): Array<{ fault: FaultName; from: number; to: number }> {
    const after = (at?: number) => (at === undefined ? Infinity : at + this.timeoutMs);
    const windows: Array<{ fault: FaultName; from: number; to: number }> = [];
    if (this.redisKilledAt !== undefined) windows.push({ fault: 'redisRestart', from: this.redisKilledAt, to: after(this.redisRecoveredAt) });
    if (this.cutAt !== undefined) windows.push({ fault: 'partition', from: this.cutAt, to: after(this.partitionRecoveredAt ?? this.rejoinedAt) });
    if (this.serverKilledAt !== undefined) windows.push({ fault: 'serverKill', from: this.serverKilledAt, to: after(this.serverRecoveredAt) });
    return windows;
  }

  /** The fault whose window holds `time` (with `slackMs` after its end: a log line is read a little late). */
  faultAt(time: number, slackMs = 0): FaultName | undefined {
    return this.windows().find((window) => time >= window.from && time <= window.to + slackMs)?.fault;
  }
}
