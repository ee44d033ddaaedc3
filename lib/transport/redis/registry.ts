/**
 * The cluster's record in Redis, the arbiter of partitions (docs/partitions.md): which servers are
 * members, which are fenced (forgotten while cut off) and, for each fenced one, the removals
 * confirmed without it, which it applies when it comes back. Every step is one Lua script, so it
 * is atomic against the others:
 *
 * - fence:    a silent member becomes fenced, and the notice goes out in the same step, so every
 *             server reads it before anything confirmed without that member;
 * - record:   a removal confirmed without fenced servers is added to their catch-up logs, unless
 *             one came back meanwhile (then it is told to ask that one);
 * - register: a server (re)joins: it takes its catch-up log and becomes a member, in one step. The
 *             log stays in Redis, handed over, until the server's next registration says it
 *             applied it: a reply lost on the way loses nothing.
 *
 * Keys share one hash tag (one slot on a Redis Cluster):
 *   {key-rooms}:servers    hash   uid -> "L" member | "F:<ms>" fenced since | "X:<ms>" its catch-up record is lost
 *   {key-rooms}:log:<uid>  list   removals confirmed while <uid> was fenced (MembershipChange JSON)
 *   {key-rooms}:handover:<uid>  list  the registration that took them, then the removals it took
 *   {key-rooms}:gen        string a random ID made when the record was created: a new one means Redis lost it
 */
import { evalScript, type AnyRedisClient } from './clients';

/** Catch-up entries kept per fenced server; past that its record is lost (it takes the last resort). */
export const CATCH_UP_CAP = 10_000;
/** A fenced (or lost) server that has not come back for this long is dropped from the record. */
export const FENCED_RETENTION_MS = 24 * 60 * 60 * 1000;

/** A server's state in the record, as the scripts write it. */
export type ServerState = 'member' | 'fenced' | 'lost' | 'absent';

export interface ServerRecord {
  state: ServerState;
  /** When it was fenced or its record lost (Redis' clock, ms). */
  since?: number;
}

/** Reads a state as the scripts write it ("L", "F:<ms>", "X:<ms>"). */
export function recordOf(raw: string | undefined | null): ServerRecord {
  const since = raw && raw.length > 2 ? Number(raw.slice(2)) : undefined;
  switch (raw?.[0]) {
    case 'L': return { state: 'member' };
    case 'F': return { state: 'fenced', since };
    case 'X': return { state: 'lost', since };
    default: return { state: 'absent' };
  }
}

export interface Registration {
  /** The record's generation now. */
  gen: string;
  /** Redis' clock when it registered (ms). */
  now: number;
  /** The state of the server that registered, before it did. */
  previous: ServerState;
  /**
   * Its catch-up: removals confirmed without it, oldest first (those of a registration it did not
   * acknowledge, then its log if it was fenced). Non-empty means it was fenced.
   */
  entries: string[];
  /** Every server in the record, after the registration. */
  servers: Map<string, ServerRecord>;
}

export type FenceOutcome = 'fenced' | 'already' | 'absent' | 'generation';

export interface RecordOutcome {
  /** Servers that are members again (they came back): the change must be sent to them. */
  members: string[];
  /** Servers no longer in the record (they left, or were dropped). */
  absent: string[];
}

/** What the transport asks of the record. A fake implements it in the model tests. */
export interface Registry {
  /**
   * Makes `uid` a member; if it was fenced, hands its catch-up log over (registration `attempt`).
   * `applied`: the last registration whose catch-up it applied (its hand-over is dropped; another
   * one's is handed over again). If the generation is no longer `knownGen`, every server of
   * `lostUids` (those this one knew fenced before) is marked lost, and `lostNotice` is published.
   * Servers fenced or lost for longer than the retention are dropped.
   */
  register(uid: string, knownGen: string, lostUids: readonly string[], lostNotice: string, attempt: string, applied: string): Promise<Registration>;
  /** Fences a member that went silent, publishing `notice` in the same step. */
  fence(uid: string, gen: string, notice: string): Promise<FenceOutcome>;
  /** Adds a confirmed removal to the catch-up log of each of `uids` still fenced. */
  record(entry: string, uids: readonly string[], gen: string): Promise<RecordOutcome | 'generation'>;
  /** Every server in the record. */
  servers(): Promise<Map<string, ServerRecord>>;
  /** Removes a server that lowers, and its log. */
  leave(uid: string): Promise<void>;
}

// Redis TIME in ms, inside a script.
const NOW_MS = "local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)";

// KEYS: servers, log of uid, gen, hand-over of uid. ARGV: uid, candidate gen, known gen, publish
// command, channel, lost notice, attempt, applied, lost uids...
const REGISTER = `
${NOW_MS}
local servers, log, genKey, handover = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local uid, candidate, known, attempt, applied = ARGV[1], ARGV[2], ARGV[3], ARGV[7], ARGV[8]
local gen = redis.call('GET', genKey)
if not gen then redis.call('SET', genKey, candidate); gen = candidate end
if known ~= '' and gen ~= known and #ARGV > 8 then
  for i = 9, #ARGV do redis.call('HSET', servers, ARGV[i], 'X:' .. now) end
  redis.call(ARGV[4], ARGV[5], ARGV[6])
end
local previous = redis.call('HGET', servers, uid) or ''
local entries = {}
local given = redis.call('LRANGE', handover, 0, -1)
if given[1] and given[1] ~= applied then for i = 2, #given do entries[#entries + 1] = given[i] end end
if string.sub(previous, 1, 1) == 'F' then
  for _, entry in ipairs(redis.call('LRANGE', log, 0, -1)) do entries[#entries + 1] = entry end
end
redis.call('DEL', log, handover)
if #entries > 0 then
  redis.call('RPUSH', handover, attempt)
  for i = 1, #entries, 1000 do redis.call('RPUSH', handover, unpack(entries, i, math.min(i + 999, #entries))) end
end
redis.call('HSET', servers, uid, 'L')
return { gen, tostring(now), previous, entries, redis.call('HGETALL', servers) }
`;

// KEYS: servers, gen. ARGV: uid, known gen, publish command, channel, notice.
const FENCE = `
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 'generation' end
local state = redis.call('HGET', KEYS[1], ARGV[1])
if not state then return 'absent' end
if string.sub(state, 1, 1) ~= 'L' then return 'already' end
${NOW_MS}
redis.call('HSET', KEYS[1], ARGV[1], 'F:' .. now)
redis.call(ARGV[3], ARGV[4], ARGV[5])
return 'fenced'
`;

// KEYS: servers, gen, log of each uid. ARGV: known gen, entry, cap, uids...
const RECORD = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 'generation' end
local members, absent = {}, {}
for i = 3, #KEYS do
  local uid = ARGV[i + 1]
  local state = redis.call('HGET', KEYS[1], uid)
  if not state then table.insert(absent, uid)
  elseif string.sub(state, 1, 1) == 'L' then table.insert(members, uid)
  elseif string.sub(state, 1, 1) == 'F' then
    if redis.call('RPUSH', KEYS[i], ARGV[2]) > tonumber(ARGV[3]) then
      ${NOW_MS}
      redis.call('DEL', KEYS[i])
      redis.call('HSET', KEYS[1], uid, 'X:' .. now)
    end
  end
end
return { members, absent }
`;

// KEYS: servers, log of uid, hand-over of uid. ARGV: uid, the state it must still have ('' for any).
const DROP = `
local state = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] ~= '' and state ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3])
return 1
`;

function recordsOf(flat: string[]): Map<string, ServerRecord> {
  const servers = new Map<string, ServerRecord>();
  for (let i = 0; i < flat.length; i += 2) servers.set(flat[i]!, recordOf(flat[i + 1]));
  return servers;
}

export interface RedisRegistryOptions {
  /** The hook's key: every key is under the hash tag `{<key>-rooms}`. */
  key: string;
  /** Where notices are published (the hook's request channel), and with which command. */
  channel: string;
  sharded: boolean;
}

/** The record in Redis, through `client` (the publishing connection: scripts run there). */
export function createRedisRegistry(client: AnyRedisClient, { key, channel, sharded }: RedisRegistryOptions): Registry {
  const tag = `{${key}-rooms}`;
  const serversKey = `${tag}:servers`;
  const genKey = `${tag}:gen`;
  const logOf = (uid: string) => `${tag}:log:${uid}`;
  const handoverOf = (uid: string) => `${tag}:handover:${uid}`;
  const publishCommand = sharded ? 'SPUBLISH' : 'PUBLISH';

  return {
    async register(uid, knownGen, lostUids, lostNotice, attempt, applied) {
      const candidate = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
      const [gen, now, previous, entries, flat] = await evalScript(client, REGISTER, [serversKey, logOf(uid), genKey, handoverOf(uid)], [
        uid, candidate, knownGen, publishCommand, channel, lostNotice, attempt, applied, ...lostUids,
      ]) as [string, string, string, string[], string[]];
      const servers = recordsOf(flat);
      // Fenced or lost long enough ago that their catch-up is not worth keeping: dropped (if one comes
      // back, it finds itself absent and takes the last resort).
      for (let i = 0; i < flat.length; i += 2) {
        const { since } = recordOf(flat[i + 1]);
        if (since === undefined || Number(now) - since <= FENCED_RETENTION_MS) continue;
        await evalScript(client, DROP, [serversKey, logOf(flat[i]!), handoverOf(flat[i]!)], [flat[i]!, flat[i + 1]!]);
        servers.delete(flat[i]!);
      }
      return { gen, now: Number(now), previous: recordOf(previous).state, entries, servers };
    },
    async fence(uid, gen, notice) {
      return await evalScript(client, FENCE, [serversKey, genKey], [uid, gen, publishCommand, channel, notice]) as FenceOutcome;
    },
    async record(entry, uids, gen) {
      if (uids.length === 0) return { members: [], absent: [] };
      const outcome = await evalScript(client, RECORD, [serversKey, genKey, ...uids.map(logOf)], [gen, entry, String(CATCH_UP_CAP), ...uids]);
      if (outcome === 'generation') return 'generation';
      const [members, absent] = outcome as [string[], string[]];
      return { members, absent };
    },
    async servers() {
      return recordsOf(await evalScript(client, "return redis.call('HGETALL', KEYS[1])", [serversKey], []) as string[]);
    },
    async leave(uid) {
      await evalScript(client, DROP, [serversKey, logOf(uid), handoverOf(uid)], [uid, '']);
    },
  };
}
