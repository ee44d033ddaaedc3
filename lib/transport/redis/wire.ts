/**
 * The messages servers exchange on the hook's Redis channels. Each is a JSON array, not an
 * object: a server encodes and parses one per request and per reply, and arrays cost about half
 * as much. Every message starts with its sender and when it was sent, on the sender's clock:
 *
 *   request   [from, sentAt, "q", id, reply (0|1), ttl, kind, ...arguments of the kind, excluded?]
 *   reply     [from, sentAt, "r", id, matched, foundIds | "all", names?]
 *   presence  [from, sentAt, "hello" | "up" | "beat" | "bye", protocol]
 *   fence     [from, sentAt, "fence", server]      `server` was fenced (registry.ts)
 *   lost      [from, sentAt, "lost", [servers]]    Redis lost their catch-up records
 *
 * A PUBLISH carries one message, or an array of those one server sent in the same tick (outbox.ts).
 *
 * `protocol` is PROTOCOL; servers of 0.1.x (protocol 1) sent presence without it, and know
 * nothing of fences. A fenced server says hello only once it registered again (standing.ts).
 * A request's `excluded`: the servers its sender counted as fenced when it sent it, which must not
 * apply it (a join did not reach them; a removal is recorded for them, or sent to them directly).
 */
import type { MembershipChange } from '../../membership';

/** What a server asks the others. */
export type ClusterRequest =
  | { kind: 'change'; change: MembershipChange }
  | { kind: 'roomsOf'; socketId: string }
  | { kind: 'membersOf'; room: string };

/** What a server answers to a request. */
export interface Reply {
  matched: number;
  /** Of the socket IDs the request named, those connected to that server. */
  foundIds: string[];
  /** roomsOf: the socket's rooms, `null` if it is not here. membersOf: the room's members here. */
  names?: string[] | null;
}

/** A reply as it is sent: `'all'` stands for every socket ID the request named (the usual answer of their holder). */
export type SentReply = Omit<Reply, 'foundIds'> & { foundIds: string[] | 'all' };

/** A reply as a request received it: with the server that sent it. */
export interface Received extends Reply {
  from: string;
}

/** The version of these messages this build speaks; see the README's rolling-upgrade rule. */
export const PROTOCOL = 2;

/** `hello`: (re)subscribed; `up`: saw its own hello, so requests reach it now; `beat`: still here; `bye`: lowering. */
export type Presence = 'hello' | 'up' | 'beat' | 'bye';

interface Envelope {
  from: string;
  sentAt: number;
}

export type Message = Envelope & (
  /** `ttl`: the sender's timeout, past which it has given up on the request. */
  | { t: 'request'; id: number; reply: boolean; ttl: number; request: ClusterRequest; excluded?: string[] }
  | { t: 'reply'; id: number; reply: SentReply }
  | { t: Presence; protocol: number }
  | { t: 'fence'; server: string }
  | { t: 'lost'; servers: string[] }
);

// Encoded by hand: the sender's uid is base64url (nothing to escape), the rest are numbers, the hook's own words, and names
// and IDs, quoted below.

/** What JSON escapes in a string: control characters, quote, backslash; and lone surrogates (pairs too go to JSON.stringify). */
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;

/** A string as JSON. Names and IDs rarely need escaping, and a test costs a tenth of JSON.stringify. */
function quote(value: string): string {
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
}

function quoteAll(values: readonly string[]): string {
  if (values.length === 1) return `[${quote(values[0]!)}]`;
  let json = '[';
  for (let i = 0; i < values.length; i++) json += i === 0 ? quote(values[i]!) : `,${quote(values[i]!)}`;
  return `${json}]`;
}

const flag = (value: boolean) => (value ? 1 : 0);

function requestArguments(request: ClusterRequest): string {
  switch (request.kind) {
    case 'roomsOf':
      return `"roomsOf",${quote(request.socketId)}`;
    case 'membersOf':
      return `"membersOf",${quote(request.room)}`;
  }
  const { change } = request;
  switch (change.type) {
    case 'join':
    case 'leave':
      return `"${change.type}",${quoteAll(change.socketIds)},${quoteAll(change.rooms)}`;
    case 'addMembers':
    case 'removeMembers':
      return `"${change.type}",${quote(change.sourceRoom)},${quoteAll(change.rooms)}`;
    case 'leaveAll':
      return `"leaveAll",${quote(change.sourceRoom)},${flag(change.includeSocketRooms)},${flag(change.includeSourceRoom)}`;
  }
}

export function encodeRequest(from: string, id: number, reply: boolean, ttl: number, request: ClusterRequest, sentAt = Date.now(), excluded?: readonly string[]): string {
  const message = `["${from}",${sentAt},"q",${id},${flag(reply)},${ttl},${requestArguments(request)}`;
  return excluded === undefined || excluded.length === 0 ? `${message}]` : `${message},${quoteAll(excluded)}]`;
}

export function encodeReply(from: string, id: number, { matched, foundIds, names }: SentReply, sentAt = Date.now()): string {
  const head = `["${from}",${sentAt},"r",${id},${matched},${foundIds === 'all' ? '"all"' : quoteAll(foundIds)}`;
  if (names === undefined) return `${head}]`;
  return `${head},${names === null ? 'null' : quoteAll(names)}]`;
}

export function encodePresence(from: string, presence: Presence, sentAt = Date.now()): string {
  return `["${from}",${sentAt},"${presence}",${PROTOCOL}]`;
}

export function encodeFence(from: string, server: string, sentAt = Date.now()): string {
  return `["${from}",${sentAt},"fence","${server}"]`;
}

export function encodeLost(from: string, servers: readonly string[], sentAt = Date.now()): string {
  return `["${from}",${sentAt},"lost",${JSON.stringify(servers)}]`;
}

/** Whether `payload` holds a message (or a batch of messages) sent by `from`. */
export function sentBy(payload: string, from: string): boolean {
  const start = `"${from}",`;
  return payload.startsWith(start, 1) || payload.startsWith(start, 2);
}

/** Matches a payload holding the `presence` message of `from` (base64url: nothing to escape). */
export function presencePattern(from: string, presence: Presence): RegExp {
  return new RegExp(`\\["${from}",\\d+,"${presence}",`);
}

/** Where a request's `excluded` stands: after the arguments of its kind. */
const EXCLUDED_AT: Record<string, number> = { roomsOf: 8, membersOf: 8, join: 9, leave: 9, addMembers: 9, removeMembers: 9, leaveAll: 10 };

function requestOf(fields: unknown[]): ClusterRequest | undefined {
  const kind = fields[6];
  switch (kind) {
    case 'roomsOf':
      return { kind, socketId: fields[7] as string };
    case 'membersOf':
      return { kind, room: fields[7] as string };
    case 'join':
    case 'leave':
      return { kind: 'change', change: { type: kind, socketIds: fields[7] as string[], rooms: fields[8] as string[] } };
    case 'addMembers':
    case 'removeMembers':
      return { kind: 'change', change: { type: kind, sourceRoom: fields[7] as string, rooms: fields[8] as string[] } };
    case 'leaveAll':
      return { kind: 'change', change: { type: kind, sourceRoom: fields[7] as string, includeSocketRooms: fields[8] === 1, includeSourceRoom: fields[9] === 1 } };
    default:
      return undefined;
  }
}

/** The message `fields` encode; `undefined` if they are not one of ours. */
function messageOf(fields: unknown): Message | undefined {
  if (!Array.isArray(fields)) return undefined;
  const from = fields[0] as string;
  const sentAt = fields[1] as number;
  const t = fields[2];
  switch (t) {
    case 'q': {
      const request = requestOf(fields);
      if (!request) return undefined;
      // One shape whether or not it names excluded servers (it rarely does), and no read past the end.
      const at = EXCLUDED_AT[fields[6] as string]!;
      const excluded = fields.length > at && Array.isArray(fields[at]) ? fields[at] as string[] : undefined;
      return { from, sentAt, t: 'request', id: fields[3] as number, reply: fields[4] === 1, ttl: fields[5] as number, request, excluded };
    }
    case 'r': {
      const reply: SentReply = { matched: fields[4] as number, foundIds: fields[5] as string[] | 'all' };
      if (fields.length > 6) reply.names = fields[6] as string[] | null;
      return { from, sentAt, t: 'reply', id: fields[3] as number, reply };
    }
    case 'hello':
    case 'up':
    case 'beat':
    case 'bye': {
      return { from, sentAt, t, protocol: typeof fields[3] === 'number' ? fields[3] : 1 };
    }
    case 'fence':
      return typeof fields[3] === 'string' ? { from, sentAt, t, server: fields[3] } : undefined;
    case 'lost':
      return Array.isArray(fields[3]) ? { from, sentAt, t, servers: fields[3] as string[] } : undefined;
    default:
      return undefined;
  }
}

/** Calls `handle` with each message of a PUBLISH; a payload that is not one of ours is ignored. */
export function forEachMessage(payload: string, handle: (message: Message) => void): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return;
  }
  if (!Array.isArray(parsed)) return;
  for (const fields of Array.isArray(parsed[0]) ? parsed : [parsed]) {
    const message = messageOf(fields);
    if (message) handle(message);
  }
}
