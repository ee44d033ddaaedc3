/**
 * Hostile input, property-based (fast-check): any value a caller can pass as a socket, a room, a
 * source room or leaveAll options, through sails.sockets (callback and promise) and
 * sails.hooks.rooms, and any JSON value a client can send as `roomName` to the documentation's
 * leaveFunRoom. Every call works as documented or fails with the documented code; it never throws,
 * never crashes, calls back exactly once and later; and the rooms are what a model of the
 * documented semantics says.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { macrotaskTurns, recordCallback, recordUnhandledRejections } from '../support/async-checks';
import { CLIENT_KINDS, connectRaw, connectSailsIo, type TestClient } from '../support/clients';
import { waitFor } from '../support/events';
import { captureLog, liftFixture, lowerFixture, urlOf, type SailsTestApp } from '../support/fixture';
import { captureSocketRequest } from '../support/requests';
import { localRoomsOf } from '../support/rooms';

/** Runs per property: enough to meet every kind of value several times, the file well under 30 s. */
const RUNS = 1000;
/** Runs of the socket-request properties (a few ms each). */
const REQUEST_RUNS = 300;
const USAGE_CODES = ['E_INVALID_SOCKET', 'E_INVALID_ROOM', 'E_INVALID_OPTIONS', 'E_INVALID_CALLBACK'];
/** lib/targets.ts: the documented room name length, and the socket ID length it accepts. */
const MAX_ROOM = 512;
const MAX_ID = 128;
const ROOM_POOL = ['fun', 'chat', 'src', 'x'];

// ---------------------------------------------------------------------------------------------
// Values

/** A value whose mere inspection throws: a getter, a Proxy trap, a revoked Proxy, an iterator. */
interface Hostile {
  label: string;
  make(): unknown;
  /** What reading leaveAll options from it must give: it is invalid only if a key they read throws. */
  asOptions: 'invalid' | 'either';
}

const boom = (what: string) => () => { throw new Error(`hostile value: ${what} throws`); };
function revoked<T extends object>(target: T): T {
  const { proxy, revoke } = Proxy.revocable(target, {});
  revoke();
  return proxy;
}

const throwingValues: fc.Arbitrary<Hostile> = fc.oneof(
  fc.constantFrom('id', 'isSocket', 'socket', 'join', 'rooms', 'method', 'headers', 'length', '0', 'then')
    .map((key): Hostile => ({ label: `an object whose '${key}' getter throws`, make: () => Object.defineProperty({}, key, { get: boom(key), enumerable: true }), asOptions: 'either' })),
  fc.constantFrom('includeSourceRoom', 'includeSocketRooms')
    .map((key): Hostile => ({ label: `an object whose '${key}' getter throws`, make: () => Object.defineProperty({}, key, { get: boom(key), enumerable: true }), asOptions: 'invalid' })),
  fc.constant<Hostile>({ label: "a socket request whose 'socket' getter throws", make: () => Object.defineProperty({ isSocket: true }, 'socket', { get: boom('socket') }), asOptions: 'either' }),
  fc.constantFrom('has', 'getPrototypeOf', 'ownKeys', 'getOwnPropertyDescriptor')
    .map((trap): Hostile => ({ label: `a Proxy whose ${trap} trap throws`, make: () => new Proxy({}, { [trap]: boom(trap) }), asOptions: 'either' })),
  fc.constant<Hostile>({ label: 'a Proxy whose get trap throws', make: () => new Proxy({}, { get: boom('get') }), asOptions: 'invalid' }),
  fc.constant<Hostile>({ label: 'a revoked Proxy', make: () => revoked({}), asOptions: 'invalid' }),
  fc.constant<Hostile>({ label: 'a revoked Proxy of an array', make: () => revoked([]), asOptions: 'invalid' }),
  fc.constant<Hostile>({ label: 'an array whose element getter throws', make: () => Object.defineProperty(['fun', 'chat'], 1, { get: boom('[1]') }), asOptions: 'invalid' }),
  fc.constant<Hostile>({ label: 'a Proxy of an array whose get trap throws', make: () => new Proxy(['fun'], { get: boom('get') }), asOptions: 'invalid' }),
  fc.constant<Hostile>({
    label: 'an array whose iterator throws',
    make: () => Object.assign(['fun'], { [Symbol.iterator]: boom('iterator') }),
    asOptions: 'invalid',
  }),
);

/** Values of every other kind a caller might pass: JSON, any JS value, exotic and degenerate ones. */
const plainValues: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.anything({
    maxDepth: 2, withBigInt: true, withBoxedValues: true, withMap: true, withSet: true, withNullPrototype: true,
    withObjectString: true, withSparseArray: true, withTypedArray: true, withDate: true,
  }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.array(fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 4 }),
  fc.bigInt(),
  fc.string().map((description) => Symbol(description)),
  fc.func(fc.anything()),
  fc.integer({ min: MAX_ROOM + 1, max: 100_000 }).map((length) => 'r'.repeat(length)),
  fc.integer({ min: MAX_ID + 1, max: MAX_ROOM }).map((length) => 'i'.repeat(length)),
  fc.integer({ min: 0, max: 4 }).map((length) => new Array(length)),
  fc.array(fc.constantFrom(...ROOM_POOL), { minLength: 1, maxLength: 3 }).map((rooms) => {
    const withHole: unknown[] = [...rooms];
    withHole[withHole.length + 1] = rooms[0];
    return withHole;
  }),
  fc.constant(null).map(() => { const cyclic: Record<string, unknown> = { roomName: 'fun' }; cyclic.self = cyclic; return cyclic; }),
  fc.constant(null).map(() => { const cyclic: unknown[] = ['fun']; cyclic.push(cyclic); return cyclic; }),
  fc.string().map((id) => Object.assign(Object.create(null) as object, { id, isSocket: true })),
  fc.constantFrom(NaN, -0, Infinity, -Infinity, Number.MAX_SAFE_INTEGER, 0, ''),
  fc.constant(null).map(() => ({ length: 1, 0: 'fun' })),
  fc.constant(null).map(() => new String('fun')),
  fc.constant(null).map(() => ({ then: (resolve: (value: unknown) => void) => resolve('fun') })),
  fc.constant(null).map(() => Promise.resolve('fun')),
);

// What the documentation accepts, decided without touching anything that could throw.
const isRoomName = (value: unknown): value is string => typeof value === 'string' && value.length >= 1 && value.length <= MAX_ROOM;
const isSocketId = (value: unknown): value is string => typeof value === 'string' && value.length >= 1 && value.length <= MAX_ID;

/** Every element of an array, holes included (read as undefined), or null if it is not a non-empty array. */
function elementsOf(value: unknown): unknown[] | null {
  if (!Array.isArray(value) || value.length === 0) return null;
  return Array.from({ length: value.length }, (_, i) => value[i]);
}

// ---------------------------------------------------------------------------------------------
// Arguments: descriptions turned into values once the app is up (some name live sockets)

interface Live {
  /** The two connected sockets. */
  ids: [string, string];
  socketOf(who: number): unknown;
  reqOf(who: number): unknown;
  /** A socket that was connected and is no more: its ID, its Socket object and a request it made. */
  gone: { id: string; socket: unknown; req: unknown };
}

/** One socket argument: its value, and what the documentation makes of it. */
interface SocketArg {
  label: string;
  value(live: Live): unknown;
  /** `ids`: the socket IDs named, in order; 'invalid': E_INVALID_SOCKET; 'fake': a look-alike Socket, either outcome. */
  meaning(live: Live): { ids: string[] } | 'invalid' | 'fake';
}

const refKinds = ['id', 'socket', 'req', 'req-like'] as const;
type RefKind = typeof refKinds[number];
function refValue(live: Live, who: number, as: RefKind): unknown {
  if (as === 'id') return live.ids[who];
  if (as === 'socket') return live.socketOf(who);
  if (as === 'req') return live.reqOf(who);
  return { isSocket: true, socket: live.socketOf(who) };
}

const liveSocketArg: fc.Arbitrary<SocketArg> = fc.record({ who: fc.integer({ min: 0, max: 1 }), as: fc.constantFrom(...refKinds) })
  .map(({ who, as }) => ({ label: `socket ${who} as ${as}`, value: (live) => refValue(live, who, as), meaning: (live) => ({ ids: [live.ids[who]] }) }));

/** A socket that disconnected, named as an app that kept it would: connected nowhere, not an error. */
const goneSocketArg: fc.Arbitrary<SocketArg> = fc.constantFrom('id', 'socket', 'req')
  .map((as) => ({
    label: `a disconnected socket as ${as}`,
    value: (live) => (as === 'id' ? live.gone.id : as === 'socket' ? live.gone.socket : live.gone.req),
    meaning: (live) => ({ ids: [live.gone.id] }),
  }));

const unknownIdArg: fc.Arbitrary<SocketArg> = fc.string({ minLength: 1, maxLength: MAX_ID })
  .map((id) => ({ label: `unknown ID ${JSON.stringify(id)}`, value: () => id, meaning: () => ({ ids: [id] }) }));

const plainSocketArg: fc.Arbitrary<SocketArg> = plainValues.map((value) => ({
  label: `plain ${describeForLabel(value)}`,
  value: () => value,
  meaning: () => {
    if (isSocketId(value)) return { ids: [value] };
    const items = elementsOf(value);
    if (items && items.every(isSocketId)) return { ids: items as string[] };
    return 'invalid';
  },
}));

const fakeSocketArg: fc.Arbitrary<SocketArg> = fc.string({ maxLength: 200 }).map((id) => ({
  label: `a look-alike Socket with id ${JSON.stringify(id)}`,
  value: () => ({ id, join() {}, leave() {}, rooms: new Set([id]) }),
  meaning: () => 'fake',
}));

const arraySocketArg: fc.Arbitrary<SocketArg> = fc.array(fc.oneof(liveSocketArg, goneSocketArg, unknownIdArg, plainSocketArg), { minLength: 1, maxLength: 4 })
  .map((items) => ({
    label: `[${items.map((item) => item.label).join(', ')}]`,
    value: (live) => items.map((item) => item.value(live)),
    meaning: (live) => {
      const ids: string[] = [];
      for (const item of items) {
        const meaning = item.meaning(live);
        // An array nested in an array is not a socket.
        if (meaning === 'invalid' || meaning === 'fake' || Array.isArray(item.value(live))) return 'invalid';
        ids.push(...meaning.ids);
      }
      return { ids };
    },
  }));

function throwingSocketArg(hostile: fc.Arbitrary<Hostile>): fc.Arbitrary<SocketArg> {
  return hostile.map((h) => ({ label: h.label, value: () => h.make(), meaning: () => 'invalid' }));
}

/** One room argument (a name or an array of them, or a single source room). */
interface RoomArg {
  label: string;
  value(live: Live): unknown;
  /** The room names, or 'invalid' (E_INVALID_ROOM). */
  meaning(live: Live, single: boolean): string[] | 'invalid';
}

const poolRoomArg: fc.Arbitrary<RoomArg> = fc.record({
  rooms: fc.array(fc.constantFrom(...ROOM_POOL), { minLength: 1, maxLength: 3 }),
  asArray: fc.boolean(),
}).map(({ rooms, asArray }) => {
  const value = asArray || rooms.length > 1 ? rooms : rooms[0];
  return {
    label: JSON.stringify(value),
    value: () => value,
    meaning: (_live, single) => (single && Array.isArray(value) ? 'invalid' : [...new Set(rooms)]),
  };
});

/** A room named after a live socket's ID: its own ID room for that socket, an ordinary room for the other. */
const idRoomArg: fc.Arbitrary<RoomArg> = fc.record({ who: fc.integer({ min: 0, max: 1 }), withOther: fc.boolean() })
  .map(({ who, withOther }) => ({
    label: `socket ${who}'s ID${withOther ? " and 'fun'" : ''}`,
    value: (live) => (withOther ? ['fun', live.ids[who]] : live.ids[who]),
    meaning: (live, single) => (single && withOther ? 'invalid' : withOther ? ['fun', live.ids[who]] : [live.ids[who]]),
  }));

const plainRoomArg: fc.Arbitrary<RoomArg> = plainValues.map((value) => ({
  label: `plain ${describeForLabel(value)}`,
  value: () => value,
  meaning: (_live, single) => {
    if (isRoomName(value)) return [value];
    const items = elementsOf(value);
    if (!single && items && items.every(isRoomName)) return [...new Set(items as string[])];
    return 'invalid';
  },
}));

function throwingRoomArg(hostile: fc.Arbitrary<Hostile>): fc.Arbitrary<RoomArg> {
  return hostile.map((h) => ({ label: h.label, value: () => h.make(), meaning: () => 'invalid' }));
}

/** leaveAll options; functions are left out, since leaveAll(sourceRoom, cb) takes a function there as the callback. */
interface OptionsArg {
  label: string;
  value(): unknown;
  meaning(): { includeSourceRoom: boolean } | 'invalid' | 'either';
}

const documentedOptions: fc.Arbitrary<OptionsArg> = fc.constantFrom<unknown>(
  undefined, null, {}, { includeSourceRoom: true }, { includeSourceRoom: false },
  { includeSocketRooms: false }, { includeSocketRooms: false, includeSourceRoom: false },
).map((value) => ({
  label: JSON.stringify(value) ?? 'undefined',
  value: () => value,
  meaning: () => ({ includeSourceRoom: (value as { includeSourceRoom?: boolean } | null)?.includeSourceRoom !== false }),
}));

const plainOptions: fc.Arbitrary<OptionsArg> = plainValues.filter((value) => typeof value !== 'function').map((value) => ({
  label: `plain ${describeForLabel(value)}`,
  value: () => value,
  meaning: () => {
    const options = (value ?? {}) as Record<string, unknown>;
    if (typeof options !== 'object' || Array.isArray(options)) return 'invalid';
    const { includeSocketRooms, includeSourceRoom } = options;
    if (![includeSocketRooms, includeSourceRoom].every((v) => v === undefined || typeof v === 'boolean')) return 'invalid';
    // Sockets leaving their own ID rooms are outside this model (fast-check never names these keys by chance).
    if (includeSocketRooms === true) return 'either';
    return { includeSourceRoom: includeSourceRoom !== false };
  },
}));

function throwingOptions(hostile: fc.Arbitrary<Hostile>): fc.Arbitrary<OptionsArg> {
  return hostile.map((h) => ({ label: h.label, value: () => h.make(), meaning: () => h.asOptions }));
}

function describeForLabel(value: unknown): string {
  try {
    if (typeof value === 'string') return value.length > 30 ? `string(${value.length})` : JSON.stringify(value);
    if (typeof value === 'symbol' || typeof value === 'bigint' || typeof value === 'function') return typeof value;
    return fc.stringify(value).slice(0, 60);
  } catch {
    return typeof value;
  }
}

// ---------------------------------------------------------------------------------------------
// Calls, and the model of what they must do

const OPERATIONS = ['leave', 'join', 'leaveAll', 'addRoomMembersToRooms', 'removeRoomMembersFromRooms'] as const;
type Operation = typeof OPERATIONS[number];
const FORMS = ['sails.sockets + callback', 'sails.sockets promise', 'sails.hooks.rooms'] as const;
type Form = typeof FORMS[number];

interface Call {
  operation: Operation;
  form: Form;
  socket: SocketArg;
  rooms: RoomArg;
  source: RoomArg;
  options: OptionsArg;
}

function calls(socketArg: fc.Arbitrary<SocketArg>, roomArg: fc.Arbitrary<RoomArg>, optionsArg: fc.Arbitrary<OptionsArg>): fc.Arbitrary<Call[]> {
  const call = fc.record({
    operation: fc.constantFrom(...OPERATIONS),
    form: fc.constantFrom(...FORMS),
    socket: socketArg,
    rooms: roomArg,
    source: roomArg,
    options: optionsArg,
  });
  // Counterexamples print as the calls they are.
  return fc.array(call.map((c) => Object.assign(c, { [fc.toStringMethod]: () => describeCall(c) })), { minLength: 1, maxLength: 4 });
}

const describeCall = (c: Call) => `${c.form}: ${c.operation}(${c.operation === 'leave' || c.operation === 'join'
  ? `${c.socket.label}, ${c.rooms.label}`
  : c.operation === 'leaveAll' ? `${c.source.label}, ${c.options.label}` : `${c.source.label}, ${c.rooms.label}`})`;

/** Each live socket's rooms, its own ID room included, as the documentation says they must be. */
type Membership = Map<string, Set<string>>;

/** The codes a call may fail with, and what it must do if it may succeed. */
interface Expected {
  codes: string[];
  success?: { apply(model: Membership): void; result?: { matched: number; notFound: string[] } };
}

const noChange = { apply() {} };

function expectedOf(c: Call, live: Live, model: Membership): Expected {
  const members = (room: string) => live.ids.filter((id) => model.get(id)!.has(room));
  if (c.operation === 'leave' || c.operation === 'join') {
    const socket = c.socket.meaning(live);
    const rooms = c.rooms.meaning(live, false);
    const codes = [...(socket === 'invalid' ? ['E_INVALID_SOCKET'] : []), ...(rooms === 'invalid' ? ['E_INVALID_ROOM'] : [])];
    if (codes.length > 0) return { codes };
    // A look-alike of a Socket: rejected, or taken for a socket connected nowhere.
    if (socket === 'fake') return { codes: ['E_INVALID_SOCKET', 'E_INVALID_ROOM'], success: noChange };
    const ids = [...new Set((socket as { ids: string[] }).ids)];
    const names = rooms as string[];
    // A socket's own ID room is never joined or left by name.
    if (ids.some((id) => names.includes(id))) return { codes: ['E_INVALID_ROOM'] };
    const here = ids.filter((id) => live.ids.includes(id));
    return {
      codes: [],
      success: {
        result: { matched: here.length, notFound: ids.filter((id) => !live.ids.includes(id)) },
        apply(m) {
          for (const id of here) for (const room of names) (c.operation === 'join' ? m.get(id)!.add(room) : m.get(id)!.delete(room));
        },
      },
    };
  }
  const source = c.source.meaning(live, true);
  if (c.operation === 'leaveAll') {
    const options = c.options.meaning();
    const codes = [...(source === 'invalid' ? ['E_INVALID_ROOM'] : []), ...(options === 'invalid' ? ['E_INVALID_OPTIONS'] : [])];
    if (codes.length > 0) return { codes };
    const sourceRoom = (source as string[])[0]!;
    const leaving = members(sourceRoom);
    // Options the hook may refuse, or read as the defaults (none of the keys it reads is set).
    const includeSourceRoom = options === 'either' ? true : (options as { includeSourceRoom: boolean }).includeSourceRoom;
    return {
      codes: options === 'either' ? ['E_INVALID_OPTIONS'] : [],
      success: {
        result: { matched: leaving.length, notFound: [] },
        apply(m) {
          for (const id of leaving) {
            for (const room of [...m.get(id)!]) {
              if (room === id || (room === sourceRoom && !includeSourceRoom)) continue;
              m.get(id)!.delete(room);
            }
          }
        },
      },
    };
  }
  const dests = c.rooms.meaning(live, false);
  if (source === 'invalid' || dests === 'invalid') return { codes: ['E_INVALID_ROOM'] };
  const sourceRoom = source[0]!;
  const moving = members(sourceRoom);
  return {
    codes: [],
    success: {
      result: { matched: moving.length, notFound: [] },
      apply(m) {
        for (const id of moving) {
          for (const room of dests) {
            if (c.operation === 'addRoomMembersToRooms') m.get(id)!.add(room);
            else if (room !== id) m.get(id)!.delete(room);
          }
        }
      },
    },
  };
}

interface Observed {
  threw?: unknown;
  err?: (Error & { code?: string }) | null;
  result?: { matched: number; servers: number; notFound: string[] };
  callbackCalls?: number;
  alwaysAsync?: boolean;
}

// ---------------------------------------------------------------------------------------------

describe('hostile input (property-based)', function () {
  this.timeout(60_000);

  let app: SailsTestApp;
  let clients: [TestClient, TestClient];
  let live: Live;
  let unhandled: ReturnType<typeof recordUnhandledRejections>;

  before(async () => {
    unhandled = recordUnhandledRejections();
    app = await liftFixture();
    clients = [await connectRaw(urlOf(app)), await connectSailsIo(urlOf(app))];
    const ids = [await clients[0].socketId(), await clients[1].socketId()] as [string, string];
    const reqs = [await captureSocketRequest(app, clients[0]), await captureSocketRequest(app, clients[1])];
    const leaving = await connectRaw(urlOf(app));
    const goneId = await leaving.socketId();
    const gone = { id: goneId, socket: app.io.of('/').sockets.get(goneId), req: await captureSocketRequest(app, leaving) };
    leaving.disconnect();
    await waitFor(() => !app.io.of('/').sockets.has(goneId), 'the third socket to be gone');
    live = {
      ids,
      socketOf: (who) => app.io.of('/').sockets.get(ids[who]!),
      reqOf: (who) => reqs[who],
      gone,
    };
  });

  after(async () => {
    unhandled?.stop();
    clients?.forEach((client) => client.disconnect());
    if (app) await lowerFixture(app);
  });

  afterEach(() => {
    assert.deepEqual(unhandled.reasons, [], 'no unhandled rejection');
  });

  function actualMembership(): Membership {
    return new Map(live.ids.map((id) => [id, new Set(localRoomsOf(app, id))]));
  }

  /** Both sockets back to a known state: 0 in fun, chat and src; 1 in src. */
  function resetRooms(): Membership {
    const initial: Array<[string, string[]]> = [[live.ids[0], ['fun', 'chat', 'src']], [live.ids[1], ['src']]];
    for (const [id, rooms] of initial) {
      const socket = app.io.of('/').sockets.get(id)!;
      for (const room of [...socket.rooms]) if (room !== id) socket.leave(room);
      socket.join(rooms);
    }
    return new Map(initial.map(([id, rooms]) => [id, new Set([id, ...rooms])]));
  }

  async function invoke(c: Call): Promise<Observed> {
    const target = c.form === 'sails.hooks.rooms' ? app.hooks.rooms as unknown as Record<Operation, (...args: unknown[]) => unknown>
      : app.sockets as unknown as Record<Operation, (...args: unknown[]) => unknown>;
    const args = c.operation === 'leave' || c.operation === 'join' ? [c.socket.value(live), c.rooms.value(live)]
      : c.operation === 'leaveAll' ? [c.source.value(live), c.options.value()]
        : [c.source.value(live), c.rooms.value(live)];
    if (c.form === 'sails.sockets + callback') {
      const cb = recordCallback<[Error & { code?: string } | null, Observed['result']]>();
      try {
        target[c.operation](...args, cb.callback);
      } catch (err) {
        return { threw: err };
      }
      cb.returned();
      const [err, result] = await cb.firstCall(2000);
      await macrotaskTurns(3);
      return { err, result, callbackCalls: cb.calls.length, alwaysAsync: cb.alwaysAsync };
    }
    let returned: unknown;
    try {
      returned = target[c.operation](...args);
    } catch (err) {
      return { threw: err };
    }
    assert.ok(returned instanceof Promise, `${describeCall(c)} returned ${String(returned)}, not a promise`);
    return returned.then(
      (result) => ({ err: null, result: result as Observed['result'] }),
      (err: Error & { code?: string }) => ({ err }),
    );
  }

  /** Runs the calls one after the other, checking each against the model. */
  async function runCalls(sequence: Call[]): Promise<void> {
    const model = resetRooms();
    for (const c of sequence) {
      const expected = expectedOf(c, live, model);
      const observed = await invoke(c);
      const what = describeCall(c);
      assert.equal(observed.threw, undefined, `${what} threw synchronously: ${String(observed.threw)}`);
      if (observed.callbackCalls !== undefined) {
        assert.equal(observed.callbackCalls, 1, `${what}: the callback was called ${observed.callbackCalls} times`);
        assert.ok(observed.alwaysAsync, `${what}: the callback was called before the call returned`);
      }
      if (observed.err) {
        assert.ok(observed.err instanceof Error, `${what} failed with ${String(observed.err)}, not an Error`);
        assert.ok(expected.codes.includes(observed.err.code!),
          `${what} failed with ${observed.err.code ?? 'no code'} (${observed.err.message}); expected ${[...expected.codes, ...(expected.success ? ['success'] : [])].join(' or ')}`);
        assert.ok(USAGE_CODES.includes(observed.err.code!));
        assert.deepEqual(actualMembership(), model, `${what} failed but changed rooms`);
        continue;
      }
      assert.ok(expected.success, `${what} succeeded (${fc.stringify(observed.result)}); expected ${expected.codes.join(' or ')}`);
      expected.success.apply(model);
      if (expected.success.result) {
        assert.equal(observed.result?.matched, expected.success.result.matched, `${what}: matched`);
        assert.deepEqual(observed.result?.notFound, expected.success.result.notFound, `${what}: notFound`);
      }
      assert.equal(observed.result?.servers, 1, `${what}: servers`);
      assert.ok(Array.isArray(observed.result?.notFound) && observed.result.notFound.every((id) => typeof id === 'string'),
        `${what}: notFound must list socket IDs: ${fc.stringify(observed.result?.notFound)}`);
      assert.deepEqual(actualMembership(), model, `${what}: rooms differ from the documented outcome`);
    }
  }

  /** fast-check with the app's usage warnings and error logs silenced (they are expected by the thousand). */
  async function check(property: fc.IAsyncProperty<[Call[]]>): Promise<void> {
    const warnings = captureLog(app, 'warn');
    const errors = captureLog(app, 'error');
    try {
      await fc.assert(property, { numRuns: RUNS });
    } finally {
      warnings.restore();
      errors.restore();
    }
  }

  describe('the public API in-process: sails.sockets (callback, promise) and sails.hooks.rooms', () => {
    it('any value of any JavaScript type, JSON or not: the documented outcome or code, once, later, never a throw', async () => {
      const socketArg = fc.oneof(liveSocketArg, goneSocketArg, unknownIdArg, plainSocketArg, arraySocketArg, fakeSocketArg);
      const roomArg = fc.oneof({ arbitrary: poolRoomArg, weight: 3 }, { arbitrary: idRoomArg, weight: 1 }, { arbitrary: plainRoomArg, weight: 2 });
      await check(fc.asyncProperty(calls(socketArg, roomArg, fc.oneof(documentedOptions, plainOptions)), runCalls));
    });

    it('values whose inspection throws (getters, Proxy traps, revoked Proxies, iterators): the documented code, never a throw', async () => {
      const socketArg = fc.oneof(liveSocketArg, throwingSocketArg(throwingValues));
      const roomArg = fc.oneof(poolRoomArg, throwingRoomArg(throwingValues));
      await check(fc.asyncProperty(calls(socketArg, roomArg, fc.oneof(documentedOptions, throwingOptions(throwingValues))), runCalls));
    });
  });

  describe('over real socket requests: the documentation example leaveFunRoom', () => {
    for (const kind of CLIENT_KINDS) {
      it(`answers 200 and leaves for a room name, 500 with the E_INVALID_ROOM message otherwise, for any JSON roomName (${kind.name})`, async () => {
        const client = await kind.connect(urlOf(app));
        const errors = captureLog(app, 'error');
        const warnings = captureLog(app, 'warn');
        try {
          const socketId = await client.socketId();
          const missing = await client.request('post', '/rooms/leave-fun-room', {});
          assert.equal(missing.statusCode, 400, 'no roomName: 400');

          await fc.assert(fc.asyncProperty(fc.oneof(fc.jsonValue(), fc.string({ unit: 'binary', minLength: 1 }), fc.array(fc.string({ unit: 'binary', minLength: 1 }), { minLength: 1 })), async (roomName) => {
            // What the server receives: JSON keeps no -0 and no undefined.
            const received: unknown = JSON.parse(JSON.stringify(roomName));
            const names = isRoomName(received) ? [received] : elementsOf(received)?.every(isRoomName) ? [...new Set(elementsOf(received) as string[])] : null;
            await app.sockets.join(socketId, names ?? 'fun');

            const response = await client.request('post', '/rooms/leave-fun-room', { roomName });

            if (names) {
              assert.equal(response.statusCode, 200, `roomName ${fc.stringify(received)}: ${JSON.stringify(response.body)}`);
              assert.deepEqual(response.body, { message: `Left a fun room called ${String(received)}!` });
              assert.deepEqual(localRoomsOf(app, socketId), [socketId], 'out of every room it named');
            } else {
              const expected = await app.hooks.rooms.leave(socketId, received as string).then(
                () => assert.fail(`leave() accepted ${fc.stringify(received)}`),
                (err: Error & { code?: string }) => err,
              );
              assert.equal(expected.code, 'E_INVALID_ROOM');
              assert.equal(response.statusCode, 500, `roomName ${fc.stringify(received)}: ${JSON.stringify(response.body)}`);
              assert.ok(String(response.body).includes(expected.message), `the 500 carries the E_INVALID_ROOM message: ${String(response.body).slice(0, 200)}`);
              assert.deepEqual(localRoomsOf(app, socketId), ['fun', socketId].sort(), 'still in its room');
              await app.sockets.leave(socketId, 'fun');
            }
          }), { numRuns: REQUEST_RUNS });

          const after = await client.request('get', '/rooms/whoami');
          assert.equal(after.statusCode, 200, 'the server still answers');
        } finally {
          errors.restore();
          warnings.restore();
          client.disconnect();
        }
      });
    }
  });

  describe('found by the properties above (minimal cases)', () => {
    it("sails.sockets.leave(an object whose 'id' getter throws, 'fun', cb) calls back with E_INVALID_SOCKET", async () => {
      const cb = recordCallback();
      app.sockets.leave(Object.defineProperty({}, 'id', { get: boom('id') }) as any, 'fun', cb.callback);
      cb.returned();
      const [err] = await cb.firstCall();
      assert.equal(err?.code, 'E_INVALID_SOCKET', `got ${err}`);
    });

    it("sails.sockets.join(socket ID, a revoked Proxy, cb) calls back with E_INVALID_ROOM", async () => {
      const cb = recordCallback();
      app.sockets.join(live.ids[0], revoked([]) as any, cb.callback);
      cb.returned();
      const [err] = await cb.firstCall();
      assert.equal(err?.code, 'E_INVALID_ROOM', `got ${err}`);
    });

    it("sails.sockets.leaveAll('src', options whose includeSourceRoom getter throws) rejects with E_INVALID_OPTIONS", async () => {
      const warnings = captureLog(app, 'warn');
      try {
        const options = Object.defineProperty({}, 'includeSourceRoom', { get: boom('includeSourceRoom') });
        await assert.rejects(app.hooks.rooms.leaveAll('src', options as any), (err: Error & { code?: string }) => err.code === 'E_INVALID_OPTIONS');
      } finally {
        warnings.restore();
      }
    });
  });
});
