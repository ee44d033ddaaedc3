/**
 * Usage errors: every bad argument gets the documented code, a message that says what was passed
 * and how to fix it, and changes nothing. Nothing throws; a callback gets the error once and
 * later; without one, the promise rejects and sails.log.warn says so before the call returns.
 */
import assert from 'node:assert/strict';
import { macrotaskTurns, recordCallback, recordUnhandledRejections } from '../support/async-checks';
import { connectRaw, connectSailsIo, type TestClient } from '../support/clients';
import { nextEvent } from '../support/events';
import { captureLog, liftFixture, lowerFixture, urlOf, type SailsTestApp } from '../support/fixture';
import { captureHttpRequest, captureSocketRequest } from '../support/requests';

type Code = 'E_INVALID_SOCKET' | 'E_INVALID_ROOM' | 'E_INVALID_OPTIONS' | 'E_INVALID_CALLBACK';

/** What a message must say so the caller knows how to fix the call. */
const FIX_HINT: Record<Code, RegExp> = {
  E_INVALID_SOCKET: /\b(pass|check)\b.*\b(socket|req)/i,
  E_INVALID_ROOM: /\bpass\b.*\broom/i,
  E_INVALID_OPTIONS: /\bpass\b.*includeSocketRooms.*includeSourceRoom/,
  E_INVALID_CALLBACK: /\bpass a function\b/i,
};

/** A bad argument: `value` is built once the app is up (some need a live socket or request). */
interface BadValue {
  label: string;
  value: () => unknown;
  /** What the message must contain to name the value received. */
  mentions: RegExp[];
}

/** A call of the API with one bad argument, in callback or promise form. */
interface Operation {
  fnName: string;
  describe: string;
  call(bad: unknown, cb?: unknown): unknown;
}

let app: SailsTestApp;
let clientA: TestClient;
let clientB: TestClient;
let idA: string;
let idB: string;
let socketReqA: any;
let httpReq: any;

// Two sockets: A is in 'ok', 'keep' and 'src'; B is in 'src'. Room-to-room operations use 'src'.
const ROOMS_OF_A = ['ok', 'keep', 'src'];
const ROOMS_OF_B = ['src'];

function serverSocket(id: string) {
  const socket = app.io.of('/').sockets.get(id);
  if (!socket) throw new Error(`socket ${id} is not connected to the app`);
  return socket;
}

function resetRooms(): void {
  for (const [id, rooms] of [[idA, ROOMS_OF_A], [idB, ROOMS_OF_B]] as const) {
    const socket = serverSocket(id);
    for (const room of [...socket.rooms]) if (room !== id) socket.leave(room);
    socket.join(rooms as unknown as string[]);
  }
}

/** Every room of the namespace and its members, in a stable order. */
function roomsSnapshot(): Array<[string, string[]]> {
  return [...app.io.of('/').adapter.rooms]
    .map(([room, ids]): [string, string[]] => [room, [...ids].sort()])
    .sort(([a], [b]) => a.localeCompare(b));
}

function assertUsageError(err: unknown, code: Code, fnName: string, mentions: RegExp[]): void {
  assert.ok(err instanceof Error, `expected an Error, got ${String(err)}`);
  assert.equal((err as Error & { code?: string }).code, code, `wrong code; message: ${err.message}`);
  assert.match(err.message, new RegExp(`sails\\.sockets\\.${fnName}\\(\\)`), 'the message names the function');
  for (const mention of mentions) assert.match(err.message, mention, 'the message names the value received');
  assert.match(err.message, FIX_HINT[code], 'the message says how to fix the call');
}

/** Calls with a recording callback; returns the error it got, once, after the call returned. */
async function errorThroughCallback(call: (cb: unknown) => unknown): Promise<unknown> {
  const cb = recordCallback();
  assert.doesNotThrow(() => { call(cb.callback); });
  cb.returned();
  const [err, result] = await cb.firstCall();
  await macrotaskTurns(3);
  assert.equal(cb.calls.length, 1, 'the callback is called exactly once');
  assert.ok(cb.alwaysAsync, 'the callback is never called before the function returned');
  assert.equal(result, undefined, 'a failed call has no result');
  return err;
}

/** Calls without a callback; checks the synchronous warning; returns the rejection reason. */
async function errorThroughPromise(call: () => unknown, fnName: string): Promise<unknown> {
  const warnings = captureLog(app, 'warn');
  let returned: unknown;
  try {
    assert.doesNotThrow(() => { returned = call(); });
    assert.equal(warnings.messages.length, 1, `sails.log.warn is called once before the call returns; got ${JSON.stringify(warnings.messages)}`);
    assert.match(warnings.messages[0], new RegExp(`sails\\.sockets\\.${fnName}\\(\\)`), 'the warning names the function');
  } finally {
    warnings.restore();
  }
  assert.ok(returned instanceof Promise, 'without a callback the call returns a promise');
  return (returned as Promise<unknown>).then(
    () => assert.fail('the promise resolved, but the call was invalid'),
    (err: unknown) => err,
  );
}

/**
 * For each operation × bad value: the callback form and the promise form, each checking the code,
 * the message and that no room changed.
 */
function rejectsEach(operations: Operation[], code: Code, values: BadValue[]): void {
  for (const op of operations) {
    describe(op.describe, () => {
      for (const bad of values) {
        it(`calls back with ${code} for ${bad.label}, changing nothing`, async () => {
          const before = roomsSnapshot();
          const err = await errorThroughCallback((cb) => op.call(bad.value(), cb));
          assertUsageError(err, code, op.fnName, bad.mentions);
          assert.deepEqual(roomsSnapshot(), before);
        });

        it(`rejects with ${code} for ${bad.label} and warns at once, changing nothing`, async () => {
          const before = roomsSnapshot();
          const err = await errorThroughPromise(() => op.call(bad.value()), op.fnName);
          assertUsageError(err, code, op.fnName, bad.mentions);
          assert.deepEqual(roomsSnapshot(), before);
        });
      }
    });
  }
}

const pollutedObject = () => JSON.parse('{"__proto__": {"x": 1}}') as unknown;

describe('usage errors of the room operations', () => {
  let unhandled: ReturnType<typeof recordUnhandledRejections>;

  before(async () => {
    unhandled = recordUnhandledRejections();
    app = await liftFixture();
    clientA = await connectRaw(urlOf(app));
    clientB = await connectSailsIo(urlOf(app));
    idA = await clientA.socketId();
    idB = await clientB.socketId();
    socketReqA = await captureSocketRequest(app, clientA);
    httpReq = await captureHttpRequest(app);
  });

  after(async () => {
    unhandled?.stop();
    clientA?.disconnect();
    clientB?.disconnect();
    if (app) await lowerFixture(app);
  });

  beforeEach(() => { resetRooms(); });

  afterEach(() => {
    assert.deepEqual(unhandled.reasons, [], 'no unhandled rejection');
    assert.equal(({} as Record<string, unknown>).x, undefined, 'Object.prototype is untouched');
  });

  describe('an invalid socket argument → E_INVALID_SOCKET', () => {
    const values: BadValue[] = [
      { label: 'null', value: () => null, mentions: [/\bnull\b/] },
      { label: 'undefined', value: () => undefined, mentions: [/\bundefined\b/] },
      { label: 'the number 0', value: () => 0, mentions: [/number 0\b/] },
      { label: 'the number 42', value: () => 42, mentions: [/number 42\b/] },
      { label: 'NaN', value: () => NaN, mentions: [/\bNaN\b/] },
      { label: 'true', value: () => true, mentions: [/boolean true\b/] },
      { label: 'an empty object', value: () => ({}), mentions: [/\bobject\b/] },
      { label: '{ isSocket: false }', value: () => ({ isSocket: false }), mentions: [/req\.isSocket/] },
      { label: 'the req of an HTTP request', value: () => httpReq, mentions: [/HTTP request/, /req\.isSocket/] },
      { label: "''", value: () => '', mentions: [/""/, /length 0\b/] },
      { label: 'a 129-character ID', value: () => 'i'.repeat(129), mentions: [/length 129\b/, /\b128\b/] },
      { label: 'an empty array', value: () => [], mentions: [/empty array/] },
      { label: '[a valid socket ID, null] (the valid one is not changed either)', value: () => [idA, null], mentions: [/\bnull\b/] },
      { label: '[a socket req, an HTTP req]', value: () => [socketReqA, httpReq], mentions: [/HTTP request/, /req\.isSocket/] },
      { label: 'a function', value: () => function notASocket() {}, mentions: [/\bfunction\b/] },
      { label: "an object from JSON.parse('{\"__proto__\": …}')", value: pollutedObject, mentions: [/\bobject\b/] },
      { label: 'an object without a prototype', value: () => Object.create(null), mentions: [/\bobject\b/] },
      { label: 'a symbol', value: () => Symbol('socket'), mentions: [/\bsymbol\b/] },
    ];
    rejectsEach([
      { fnName: 'leave', describe: "sails.sockets.leave(socket, 'ok')", call: (bad, cb) => app.sockets.leave(bad as any, 'ok', cb as any) },
      { fnName: 'join', describe: "sails.sockets.join(socket, 'fresh')", call: (bad, cb) => app.sockets.join(bad as any, 'fresh', cb as any) },
    ], 'E_INVALID_SOCKET', values);
  });

  describe('an invalid room name → E_INVALID_ROOM', () => {
    const values: BadValue[] = [
      { label: 'undefined', value: () => undefined, mentions: [/\bundefined\b/] },
      { label: 'null', value: () => null, mentions: [/\bnull\b/] },
      { label: "''", value: () => '', mentions: [/""/, /length 0\b/] },
      { label: 'the number 5', value: () => 5, mentions: [/number 5\b/] },
      { label: 'an empty object (what req.param() gives for an object)', value: () => ({}), mentions: [/\bobject\b/, /req\.param\(\)/] },
      { label: "{ roomName: 'x' }", value: () => ({ roomName: 'x' }), mentions: [/\bobject\b/] },
      { label: 'an empty array', value: () => [], mentions: [/empty array/] },
      { label: '[1]', value: () => [1], mentions: [/number 1\b/] },
      { label: "['ok', ''] (the valid room is not changed either)", value: () => ['ok', ''], mentions: [/length 0\b/] },
      { label: 'a 513-character name', value: () => 'r'.repeat(513), mentions: [/length 513\b/, /\b512\b/] },
      { label: "an object from JSON.parse('{\"__proto__\": …}')", value: pollutedObject, mentions: [/\bobject\b/] },
      { label: 'a symbol', value: () => Symbol('room'), mentions: [/\bsymbol\b/] },
    ];
    rejectsEach([
      { fnName: 'leave', describe: 'sails.sockets.leave(socket req, roomName)', call: (bad, cb) => app.sockets.leave(socketReqA, bad as any, cb as any) },
      { fnName: 'join', describe: 'sails.sockets.join(socket ID, roomName)', call: (bad, cb) => app.sockets.join(idA, bad as any, cb as any) },
    ], 'E_INVALID_ROOM', values);
  });

  describe("the socket's own ID room → E_INVALID_ROOM", () => {
    const values: BadValue[] = [
      { label: "the socket's own ID", value: () => idA, mentions: [/own ID room/] },
      { label: "['ok', the socket's own ID] (the valid room is not changed either)", value: () => ['ok', idA], mentions: [/own ID room/] },
    ];
    rejectsEach([
      { fnName: 'leave', describe: 'sails.sockets.leave(socket ID, its own ID)', call: (bad, cb) => app.sockets.leave(idA, bad as any, cb as any) },
      { fnName: 'leave', describe: 'sails.sockets.leave(socket req, its own ID)', call: (bad, cb) => app.sockets.leave(socketReqA, bad as any, cb as any) },
      { fnName: 'join', describe: 'sails.sockets.join(Socket, its own ID)', call: (bad, cb) => app.sockets.join(serverSocket(idA), bad as any, cb as any) },
    ], 'E_INVALID_ROOM', values);

    it('keeps the socket in its own ID room, where messages to it arrive', async () => {
      const err = await errorThroughPromise(() => app.sockets.leave(idA, idA), 'leave');
      assert.equal((err as { code?: string }).code, 'E_INVALID_ROOM');
      assert.ok(serverSocket(idA).rooms.has(idA));
      const received = nextEvent(clientA, 'direct');
      app.sockets.broadcast(idA, 'direct', { hello: 'A' });
      assert.deepEqual(await received, { hello: 'A' });
    });
  });

  describe('an invalid source room → E_INVALID_ROOM', () => {
    const values: BadValue[] = [
      { label: 'undefined', value: () => undefined, mentions: [/\bundefined\b/] },
      { label: 'null', value: () => null, mentions: [/\bnull\b/] },
      { label: "''", value: () => '', mentions: [/length 0\b/] },
      { label: 'the number 5', value: () => 5, mentions: [/number 5\b/] },
      { label: 'an empty object', value: () => ({}), mentions: [/\bobject\b/] },
      { label: "['src'] (one room only)", value: () => ['src'], mentions: [/array of length 1\b/] },
      { label: 'a 513-character name', value: () => 's'.repeat(513), mentions: [/length 513\b/] },
      { label: "an object from JSON.parse('{\"__proto__\": …}')", value: pollutedObject, mentions: [/\bobject\b/] },
    ];
    rejectsEach([
      { fnName: 'leaveAll', describe: 'sails.sockets.leaveAll(sourceRoom)', call: (bad, cb) => (cb === undefined ? app.sockets.leaveAll(bad as any) : app.sockets.leaveAll(bad as any, cb as any)) },
      { fnName: 'addRoomMembersToRooms', describe: "sails.sockets.addRoomMembersToRooms(sourceRoom, 'fresh')", call: (bad, cb) => app.sockets.addRoomMembersToRooms(bad as any, 'fresh', cb as any) },
      { fnName: 'removeRoomMembersFromRooms', describe: "sails.sockets.removeRoomMembersFromRooms(sourceRoom, 'ok')", call: (bad, cb) => app.sockets.removeRoomMembersFromRooms(bad as any, 'ok', cb as any) },
    ], 'E_INVALID_ROOM', values);
  });

  describe('invalid destination rooms → E_INVALID_ROOM', () => {
    const values: BadValue[] = [
      { label: 'undefined', value: () => undefined, mentions: [/\bundefined\b/] },
      { label: 'null', value: () => null, mentions: [/\bnull\b/] },
      { label: "''", value: () => '', mentions: [/length 0\b/] },
      { label: 'the number 5', value: () => 5, mentions: [/number 5\b/] },
      { label: 'an empty object', value: () => ({}), mentions: [/\bobject\b/] },
      { label: 'an empty array', value: () => [], mentions: [/empty array/] },
      { label: '[1]', value: () => [1], mentions: [/number 1\b/] },
      { label: "['fresh', 'ok', ''] (the valid rooms are not changed either)", value: () => ['fresh', 'ok', ''], mentions: [/length 0\b/] },
      { label: 'a 513-character name', value: () => 'd'.repeat(513), mentions: [/length 513\b/] },
    ];
    rejectsEach([
      { fnName: 'addRoomMembersToRooms', describe: "sails.sockets.addRoomMembersToRooms('src', destRooms)", call: (bad, cb) => app.sockets.addRoomMembersToRooms('src', bad as any, cb as any) },
      { fnName: 'removeRoomMembersFromRooms', describe: "sails.sockets.removeRoomMembersFromRooms('src', destRooms)", call: (bad, cb) => app.sockets.removeRoomMembersFromRooms('src', bad as any, cb as any) },
    ], 'E_INVALID_ROOM', values);
  });

  describe('invalid leaveAll options → E_INVALID_OPTIONS', () => {
    const values: BadValue[] = [
      { label: "the string 'x'", value: () => 'x', mentions: [/"x"/] },
      { label: 'the number 5', value: () => 5, mentions: [/number 5\b/] },
      { label: 'true', value: () => true, mentions: [/boolean true\b/] },
      { label: 'an array', value: () => [], mentions: [/\barray\b/] },
      { label: "{ includeSocketRooms: 'yes' }", value: () => ({ includeSocketRooms: 'yes' }), mentions: [/\bobject\b/] },
      { label: '{ includeSourceRoom: 1 }', value: () => ({ includeSourceRoom: 1 }), mentions: [/\bobject\b/] },
    ];
    rejectsEach([
      { fnName: 'leaveAll', describe: "sails.sockets.leaveAll('src', options)", call: (bad, cb) => app.sockets.leaveAll('src', bad as any, cb as any) },
    ], 'E_INVALID_OPTIONS', values);
  });

  describe('a callback that is not a function → E_INVALID_CALLBACK, and the operation is not run', () => {
    const operations: Array<{ fnName: string; describe: string; call(cb: unknown): unknown }> = [
      { fnName: 'leave', describe: "sails.sockets.leave(A, 'ok', cb)", call: (cb) => app.sockets.leave(idA, 'ok', cb as any) },
      { fnName: 'join', describe: "sails.sockets.join(A, 'fresh', cb)", call: (cb) => app.sockets.join(idA, 'fresh', cb as any) },
      { fnName: 'leaveAll', describe: "sails.sockets.leaveAll('src', {}, cb)", call: (cb) => app.sockets.leaveAll('src', {}, cb as any) },
      { fnName: 'addRoomMembersToRooms', describe: "sails.sockets.addRoomMembersToRooms('src', 'fresh', cb)", call: (cb) => app.sockets.addRoomMembersToRooms('src', 'fresh', cb as any) },
      { fnName: 'removeRoomMembersFromRooms', describe: "sails.sockets.removeRoomMembersFromRooms('src', 'ok', cb)", call: (cb) => app.sockets.removeRoomMembersFromRooms('src', 'ok', cb as any) },
    ];
    const callbacks: BadValue[] = [
      { label: "the string 'cb'", value: () => 'cb', mentions: [/"cb"/] },
      { label: 'the number 5', value: () => 5, mentions: [/number 5\b/] },
      { label: 'an object', value: () => ({}), mentions: [/\bobject\b/] },
      { label: 'true', value: () => true, mentions: [/boolean true\b/] },
    ];
    for (const op of operations) {
      describe(op.describe, () => {
        for (const bad of callbacks) {
          it(`rejects ${bad.label} with E_INVALID_CALLBACK and warns at once, changing nothing`, async () => {
            const before = roomsSnapshot();
            const err = await errorThroughPromise(() => op.call(bad.value()), op.fnName);
            assertUsageError(err, 'E_INVALID_CALLBACK', op.fnName, bad.mentions);
            assert.deepEqual(roomsSnapshot(), before);
          });
        }
      });
    }
  });

  describe('the same errors through the sails.hooks.rooms promise API', () => {
    const cases: Array<{ title: string; code: Code; call(): unknown }> = [
      { title: "leave(null, 'ok')", code: 'E_INVALID_SOCKET', call: () => app.hooks.rooms.leave(null as any, 'ok') },
      { title: "leave(an HTTP req, 'ok')", code: 'E_INVALID_SOCKET', call: () => app.hooks.rooms.leave(httpReq, 'ok') },
      { title: "join(A, '')", code: 'E_INVALID_ROOM', call: () => app.hooks.rooms.join(idA, '') },
      { title: "join(A, A's own ID)", code: 'E_INVALID_ROOM', call: () => app.hooks.rooms.join(idA, idA) },
      { title: 'leaveAll(5)', code: 'E_INVALID_ROOM', call: () => app.hooks.rooms.leaveAll(5 as any) },
      { title: "leaveAll('src', 'x')", code: 'E_INVALID_OPTIONS', call: () => app.hooks.rooms.leaveAll('src', 'x' as any) },
      { title: "addRoomMembersToRooms('src', [])", code: 'E_INVALID_ROOM', call: () => app.hooks.rooms.addRoomMembersToRooms('src', []) },
      { title: "removeRoomMembersFromRooms(null, 'ok')", code: 'E_INVALID_ROOM', call: () => app.hooks.rooms.removeRoomMembersFromRooms(null as any, 'ok') },
      { title: 'roomsOf(42)', code: 'E_INVALID_SOCKET', call: () => app.hooks.rooms.roomsOf(42 as any) },
      { title: 'membersOf({})', code: 'E_INVALID_ROOM', call: () => app.hooks.rooms.membersOf({} as any) },
    ];
    for (const { title, code, call } of cases) {
      it(`${title} rejects with ${code}, changing nothing and logging nothing (the caller has the promise)`, async () => {
        const before = roomsSnapshot();
        const warnings = captureLog(app, 'warn');
        let returned: unknown;
        try {
          assert.doesNotThrow(() => { returned = call(); });
        } finally {
          warnings.restore();
        }
        assert.ok(returned instanceof Promise, 'the hook API returns a promise');
        assert.deepEqual(warnings.messages, []);
        await assert.rejects(returned as Promise<unknown>, (err: unknown) => {
          assert.ok(err instanceof Error);
          assert.equal((err as Error & { code?: string }).code, code);
          assert.match(err.message, FIX_HINT[code]);
          return true;
        });
        assert.deepEqual(roomsSnapshot(), before);
      });
    }
  });

  describe('the limits themselves are valid', () => {
    it('accepts a 128-character socket ID (connected nowhere: nothing matched)', async () => {
      const id = 'i'.repeat(128);
      assert.deepEqual(await app.sockets.leave(id, 'ok'), { matched: 0, servers: 1, notFound: [id], unreachable: [], unreachableServers: 0 });
    });

    it('accepts a 512-character room name', async () => {
      const room = 'r'.repeat(512);
      assert.deepEqual(await app.sockets.join(idA, room), { matched: 1, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 });
      assert.ok(serverSocket(idA).rooms.has(room));
    });
  });
});
