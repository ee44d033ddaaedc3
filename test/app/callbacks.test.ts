/**
 * Callbacks and promises: a callback is called exactly once and never before the call returned;
 * without one the promise gives the same result; a failure nobody handles is logged, never an
 * unhandled rejection.
 */
import assert from 'node:assert/strict';
import { callSoon, doneHere, exposed } from '../../lib/completion';
import { RoomsError } from '../../lib/errors';
import type { Logger } from '../../lib/sails';
import type { RoomsCallback, RoomsResult } from '../../lib/types';
import { macrotaskTurns, recordCallback, recordUnhandledRejections } from '../support/async-checks';
import { connectRaw, connectSailsIo, type TestClient } from '../support/clients';
import { waitFor } from '../support/events';
import { captureLog, liftFixture, lowerFixture, urlOf, type SailsTestApp } from '../support/fixture';

const UNKNOWN_ID = 'connected-nowhere-0001';

describe('callbacks and promises of the sails.sockets room operations', () => {
  let app: SailsTestApp;
  let clientA: TestClient;
  let clientB: TestClient;
  let idA: string;
  let idB: string;
  let unhandled: ReturnType<typeof recordUnhandledRejections>;

  const serverSocket = (id: string) => {
    const socket = app.io.of('/').sockets.get(id);
    if (!socket) throw new Error(`socket ${id} is not connected`);
    return socket;
  };

  // A is in 'ok' and 'src'; B is in 'src'.
  function resetRooms(): void {
    for (const [id, rooms] of [[idA, ['ok', 'src']], [idB, ['src']]] as const) {
      const socket = serverSocket(id);
      for (const room of [...socket.rooms]) if (room !== id) socket.leave(room);
      socket.join(rooms as unknown as string[]);
    }
  }

  before(async () => {
    unhandled = recordUnhandledRejections();
    app = await liftFixture();
    clientA = await connectRaw(urlOf(app));
    clientB = await connectSailsIo(urlOf(app));
    idA = await clientA.socketId();
    idB = await clientB.socketId();
  });

  after(async () => {
    unhandled?.stop();
    clientA?.disconnect();
    clientB?.disconnect();
    if (app) await lowerFixture(app);
  });

  beforeEach(() => { resetRooms(); });
  afterEach(() => { assert.deepEqual(unhandled.reasons, [], 'no unhandled rejection'); });

  /** Calls in both forms have the same signature: the callback, when given, comes last. */
  const successes: Array<{ title: string; call(cb?: unknown): unknown; result(): RoomsResult; applied(): void }> = [
    {
      title: "leave(socket ID, 'ok')",
      call: (cb) => app.sockets.leave(idA, 'ok', cb as any),
      result: () => ({ matched: 1, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 }),
      applied: () => assert.equal(serverSocket(idA).rooms.has('ok'), false),
    },
    {
      title: "join(socket ID, 'fresh')",
      call: (cb) => app.sockets.join(idA, 'fresh', cb as any),
      result: () => ({ matched: 1, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 }),
      applied: () => assert.equal(serverSocket(idA).rooms.has('fresh'), true),
    },
    {
      title: "leave([socket ID, unknown ID], 'ok')",
      call: (cb) => app.sockets.leave([idA, UNKNOWN_ID], 'ok', cb as any),
      result: () => ({ matched: 1, servers: 1, notFound: [UNKNOWN_ID], unreachable: [], unreachableServers: 0 }),
      applied: () => assert.equal(serverSocket(idA).rooms.has('ok'), false),
    },
    {
      title: "leaveAll('src')",
      call: (cb) => (cb === undefined ? app.sockets.leaveAll('src') : app.sockets.leaveAll('src', cb as any)),
      result: () => ({ matched: 2, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 }),
      applied: () => {
        assert.deepEqual([...serverSocket(idA).rooms], [idA]);
        assert.deepEqual([...serverSocket(idB).rooms], [idB]);
      },
    },
    {
      title: "addRoomMembersToRooms('src', 'fresh')",
      call: (cb) => app.sockets.addRoomMembersToRooms('src', 'fresh', cb as any),
      result: () => ({ matched: 2, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 }),
      applied: () => assert.deepEqual([...app.io.of('/').adapter.rooms.get('fresh') ?? []].sort(), [idA, idB].sort()),
    },
    {
      title: "removeRoomMembersFromRooms('src', 'ok')",
      call: (cb) => app.sockets.removeRoomMembersFromRooms('src', 'ok', cb as any),
      result: () => ({ matched: 2, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 }),
      applied: () => assert.equal(app.io.of('/').adapter.rooms.has('ok'), false),
    },
  ];

  describe('on success', () => {
    for (const op of successes) {
      it(`${op.title} applies the change before returning, then calls back once, later, with the result`, async () => {
        const cb = recordCallback();
        op.call(cb.callback);
        cb.returned();
        op.applied();
        assert.equal(cb.calls.length, 0, 'not called before returning');
        const [err, result] = await cb.firstCall();
        await macrotaskTurns(3);
        assert.equal(cb.calls.length, 1, 'called exactly once');
        assert.ok(cb.alwaysAsync);
        assert.equal(err, null);
        assert.deepEqual(result, op.result());
      });

      it(`${op.title} without a callback applies the change before returning and resolves with the same result`, async () => {
        const returned = op.call();
        op.applied();
        assert.ok(returned instanceof Promise);
        assert.deepEqual(await returned, op.result());
      });
    }
  });

  describe('for a socket ID connected nowhere (not an error)', () => {
    for (const fnName of ['leave', 'join'] as const) {
      it(`${fnName}(unknown ID, room) calls back once, later, with matched 0 and the ID in notFound`, async () => {
        const cb = recordCallback();
        app.sockets[fnName](UNKNOWN_ID, 'ok', cb.callback);
        cb.returned();
        const [err, result] = await cb.firstCall();
        await macrotaskTurns(3);
        assert.equal(cb.calls.length, 1);
        assert.ok(cb.alwaysAsync);
        assert.equal(err, null);
        assert.deepEqual(result, { matched: 0, servers: 1, notFound: [UNKNOWN_ID], unreachable: [], unreachableServers: 0 });
      });

      it(`${fnName}(unknown ID, room) without a callback resolves with the same result`, async () => {
        assert.deepEqual(await app.sockets[fnName](UNKNOWN_ID, 'ok'), { matched: 0, servers: 1, notFound: [UNKNOWN_ID], unreachable: [], unreachableServers: 0 });
      });
    }
  });

  describe('on a usage error', () => {
    it("calls back once, later, with the error and no result (leave(null, 'ok', cb))", async () => {
      const cb = recordCallback();
      app.sockets.leave(null as any, 'ok', cb.callback);
      cb.returned();
      const [err, result] = await cb.firstCall();
      await macrotaskTurns(3);
      assert.equal(cb.calls.length, 1);
      assert.ok(cb.alwaysAsync);
      assert.ok(err instanceof Error);
      assert.equal((err as RoomsError).code, 'E_INVALID_SOCKET');
      assert.equal(result, undefined);
    });

    it('rejects the promise with the same error when no callback is given', async () => {
      const warnings = captureLog(app, 'warn');
      try {
        await assert.rejects(app.sockets.join(idA, '') as Promise<unknown>, { code: 'E_INVALID_ROOM' });
      } finally {
        warnings.restore();
      }
    });

    it('sails.sockets.leave(null) with no callback and no handler warns at once, once, and the process carries on', async () => {
      const warnings = captureLog(app, 'warn');
      const errors = captureLog(app, 'error');
      try {
        (app.sockets.leave as (...args: unknown[]) => unknown)(null);
        assert.equal(warnings.messages.length, 1, 'warned before leave() returned');
        assert.match(warnings.messages[0], /sails\.sockets\.leave\(\)/);
        await macrotaskTurns(5);
        assert.equal(warnings.messages.length, 1, 'warned once only');
        assert.deepEqual(errors.messages, [], 'a usage error is a warning, not an error');
        assert.deepEqual(unhandled.reasons, [], 'no unhandled rejection');
        assert.equal(process.exitCode, undefined, 'the process is not set to fail');
      } finally {
        warnings.restore();
        errors.restore();
      }
      // Still serving: a socket request gets its answer.
      const { statusCode } = await clientA.request('post', '/rooms/join-fun-room', { roomName: 'fun' });
      assert.equal(statusCode, 200);
    });
  });
});

describe('completion: how an operation\'s end reaches the caller', () => {
  const result: RoomsResult = { matched: 1, servers: 2, notFound: [], unreachable: [], unreachableServers: 0 };
  let unhandled: ReturnType<typeof recordUnhandledRejections>;

  function fakeLogger(): Logger & { warnings: unknown[][]; errors: unknown[][] } {
    const warnings: unknown[][] = [];
    const errors: unknown[][] = [];
    return { warnings, errors, warn: (...args) => { warnings.push(args); }, error: (...args) => { errors.push(args); } };
  }

  /** An operation that fails later, as a cluster operation does when Redis is gone, exposed as `fnName`. */
  function failingLater(fnName: string, err: RoomsError, log: Logger) {
    return exposed(fnName, (_first, _second, done) => { setImmediate(() => callSoon(done, err)); }, log, true, () => {});
  }

  /** An operation that succeeds once the other servers answered. */
  function answeredLater(log: Logger) {
    return exposed('leave', (_first, _second, done) => { setImmediate(() => callSoon(done, null, result)); }, log, true, () => {});
  }

  beforeEach(() => { unhandled = recordUnhandledRejections(); });
  afterEach(() => {
    unhandled.stop();
    assert.deepEqual(unhandled.reasons, [], 'no unhandled rejection');
  });

  describe('an asynchronous failure', () => {
    it('is logged with log.error, once, with the error, when nobody handles the promise', async () => {
      const log = fakeLogger();
      const err = new RoomsError('E_TIMEOUT', 'only 1 of 2 other servers answered');
      failingLater('leave', err, log)(null, null);
      await waitFor(() => log.errors.length > 0, 'log.error', 2000);
      await macrotaskTurns(5);
      assert.equal(log.errors.length, 1);
      assert.ok(log.errors[0].includes(err), 'the error itself is logged');
      assert.match(String(log.errors[0][0]), /sails\.sockets\.leave\(\)/);
      assert.deepEqual(log.warnings, []);
    });

    it('reaches a caller who awaits the promise, and is not logged', async () => {
      const log = fakeLogger();
      const err = new RoomsError('E_UNAVAILABLE', 'Redis is gone');
      await assert.rejects(async () => { await failingLater('join', err, log)(null, null); }, (got) => got === err);
      await macrotaskTurns(5);
      assert.deepEqual(log.errors, []);
    });

    it('reaches a .catch() handler, and is not logged', async () => {
      const log = fakeLogger();
      const err = new RoomsError('E_UNAVAILABLE', 'Redis is gone');
      const caught = await failingLater('join', err, log)(null, null)!.catch((reason: unknown) => reason);
      assert.equal(caught, err);
      await macrotaskTurns(5);
      assert.deepEqual(log.errors, []);
    });

    it('reaches a .then(undefined, onRejected) handler, and is not logged', async () => {
      const log = fakeLogger();
      const err = new RoomsError('E_TIMEOUT', 'late');
      const caught = await failingLater('leaveAll', err, log)(null, null)!.then(undefined, (reason: unknown) => reason);
      assert.equal(caught, err);
      await macrotaskTurns(5);
      assert.deepEqual(log.errors, []);
    });

    it('reaches a handler attached after a few awaits in the same turn, and is not logged', async () => {
      const log = fakeLogger();
      const err = new RoomsError('E_TIMEOUT', 'late');
      const promise = exposed('leave', (_first, _second, done) => done(err), log, false, () => {})(null, null)!;
      for (let i = 0; i < 5; i++) await Promise.resolve();
      assert.equal(await promise.catch((reason: unknown) => reason), err);
      await macrotaskTurns(5);
      assert.deepEqual(log.errors, []);
    });

    it('goes to the callback, once, later, and is not logged', async () => {
      const log = fakeLogger();
      const err = new RoomsError('E_TIMEOUT', 'late');
      const cb = recordCallback();
      const returned = failingLater('leave', err, log)(null, null, cb.callback);
      cb.returned();
      assert.equal(returned, undefined, 'with a callback there is no promise to handle');
      const [got, value] = await cb.firstCall();
      await macrotaskTurns(5);
      assert.equal(cb.calls.length, 1);
      assert.ok(cb.alwaysAsync);
      assert.equal(got, err);
      assert.equal(value, undefined);
      assert.deepEqual(log.errors, []);
    });
  });

  describe('a success', () => {
    it('resolves the promise with the result, whether the operation was done here at once or answered later', async () => {
      const log = fakeLogger();
      assert.deepEqual(await doneHere(result, undefined), result);
      assert.deepEqual(await answeredLater(log)(null, null), result);
      assert.deepEqual([log.warnings, log.errors], [[], []]);
    });

    it('calls back once, after returning, with (null, result), even when the result was ready at once', async () => {
      for (const finish of [(cb: RoomsCallback) => doneHere(result, cb), (cb: RoomsCallback) => answeredLater(fakeLogger())(null, null, cb)]) {
        const cb = recordCallback();
        finish(cb.callback);
        cb.returned();
        assert.deepEqual(await cb.firstCall(), [null, result]);
        await macrotaskTurns(3);
        assert.equal(cb.calls.length, 1);
        assert.ok(cb.alwaysAsync);
      }
    });
  });

  describe('a usage error (the operation threw before changing anything)', () => {
    const usageError = () => new RoomsError('E_INVALID_SOCKET', 'sails.sockets.leave() got null as its socket');
    const throwing = (err: RoomsError, log: Logger) => exposed('leave', () => { throw err; }, log, true, () => {});

    it('without a callback: warns once before returning, rejects the promise, and logs no error even if unhandled', async () => {
      const log = fakeLogger();
      const err = usageError();
      const promise = throwing(err, log)(null, null)!;
      assert.equal(log.warnings.length, 1, 'warned before returning');
      assert.match(String(log.warnings[0].join(' ')), /sails\.sockets\.leave\(\).*got null/);
      assert.ok(promise instanceof Promise);
      await macrotaskTurns(5);
      assert.deepEqual(log.errors, [], 'already reported by the warning');
      assert.equal(await promise.catch((reason: unknown) => reason), err);
    });

    it('with a callback: calls back once, later, with the error', async () => {
      const log = fakeLogger();
      const err = usageError();
      const cb = recordCallback();
      assert.doesNotThrow(() => throwing(err, log)(null, null, cb.callback));
      cb.returned();
      assert.deepEqual(await cb.firstCall(), [err]);
      await macrotaskTurns(3);
      assert.equal(cb.calls.length, 1);
      assert.ok(cb.alwaysAsync);
      assert.deepEqual(log.errors, []);
    });
  });
});
