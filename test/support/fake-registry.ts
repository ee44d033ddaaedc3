/**
 * The cluster's record (lib/transport/redis/registry.ts) in memory, for tests without Redis: the
 * same steps as the Lua scripts, each atomic. test/cluster/registry.test.ts runs one contract
 * against this and against the real scripts, so the two say the same.
 */
import { CATCH_UP_CAP, FENCED_RETENTION_MS, recordOf, type RecordOutcome, type Registry, type ServerRecord } from '../../lib/transport/redis/registry';

export class FakeRegistry implements Registry {
  /** Server ID to its state as the scripts write it ("L", "F:<ms>", "X:<ms>"). */
  readonly states = new Map<string, string>();
  readonly logs = new Map<string, string[]>();
  /** A registration's hand-over: its attempt, and the entries it took. */
  readonly handovers = new Map<string, { attempt: string; entries: string[] }>();
  gen: string | undefined;
  /** Notices "published" by the steps, in order. */
  readonly published: string[] = [];
  /** Redis' clock (ms). */
  now = 1_000_000;
  private gens = 0;

  /** Redis restarted empty. */
  lose(): void {
    this.states.clear();
    this.logs.clear();
    this.handovers.clear();
    this.gen = undefined;
  }

  // The Registry interface, over the synchronous steps below (test/support/fake-redis.ts runs those inside its commands).
  register = async (...args: Parameters<FakeRegistry['registerNow']>) => this.registerNow(...args);
  fence = async (...args: Parameters<FakeRegistry['fenceNow']>) => this.fenceNow(...args);
  record = async (...args: Parameters<FakeRegistry['recordNow']>) => this.recordNow(...args);
  servers = async () => this.serversNow();
  leave = async (uid: string) => this.leaveNow(uid);

  registerNow(uid: string, knownGen: string, lostUids: readonly string[], lostNotice: string, attempt = '', applied = '') {
    this.gen ??= `gen-${++this.gens}`;
    if (knownGen !== '' && this.gen !== knownGen && lostUids.length > 0) {
      for (const lost of lostUids) this.states.set(lost, `X:${this.now}`);
      this.published.push(lostNotice);
    }
    const previous = this.states.get(uid);
    const given = this.handovers.get(uid);
    const entries = given && given.attempt !== applied ? [...given.entries] : [];
    if (previous?.startsWith('F')) entries.push(...(this.logs.get(uid) ?? []));
    this.logs.delete(uid);
    this.handovers.delete(uid);
    if (entries.length > 0) this.handovers.set(uid, { attempt, entries });
    this.states.set(uid, 'L');
    for (const [id, raw] of [...this.states]) {
      const { since } = recordOf(raw);
      if (since !== undefined && this.now - since > FENCED_RETENTION_MS) {
        this.states.delete(id);
        this.logs.delete(id);
        this.handovers.delete(id);
      }
    }
    return { gen: this.gen, now: this.now, previous: recordOf(previous).state, entries, servers: this.serversNow() };
  }

  fenceNow(uid: string, gen: string, notice: string) {
    if (this.gen !== gen) return 'generation' as const;
    const state = this.states.get(uid);
    if (state === undefined) return 'absent' as const;
    if (!state.startsWith('L')) return 'already' as const;
    this.states.set(uid, `F:${this.now}`);
    this.published.push(notice);
    return 'fenced' as const;
  }

  recordNow(entry: string, uids: readonly string[], gen: string): RecordOutcome | 'generation' {
    if (uids.length === 0) return { members: [], absent: [] };
    if (this.gen !== gen) return 'generation' as const;
    const members: string[] = [];
    const absent: string[] = [];
    for (const uid of uids) {
      const state = this.states.get(uid);
      if (state === undefined) absent.push(uid);
      else if (state.startsWith('L')) members.push(uid);
      else if (state.startsWith('F')) {
        const log = this.logs.get(uid) ?? [];
        log.push(entry);
        this.logs.set(uid, log);
        if (log.length > CATCH_UP_CAP) {
          this.logs.delete(uid);
          this.states.set(uid, `X:${this.now}`);
        }
      }
    }
    return { members, absent };
  }

  leaveNow(uid: string): void {
    this.states.delete(uid);
    this.logs.delete(uid);
    this.handovers.delete(uid);
  }

  serversNow(): Map<string, ServerRecord> {
    return new Map([...this.states].map(([id, raw]) => [id, recordOf(raw)]));
  }
}
