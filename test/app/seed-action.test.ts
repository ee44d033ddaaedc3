import assert from 'node:assert/strict';
import supertest from 'supertest';
import { CLIENT_KINDS, type TestClient } from '../support/clients';
import { captureLog, liftFixture, lowerFixture, urlOf, type SailsTestApp } from '../support/fixture';
import { listenerFor, localMembersOf, roomsReaching, type Listener } from '../support/rooms';

const LEAVE_FUN_ROOM = '/rooms/leave-fun-room';

/**
 * The text of a response body. Over a socket, Sails' virtual `res.json()` (behind `res.badRequest('…')`)
 * JSON-encodes a string body, quotes included; over HTTP, supertest has already decoded it.
 */
function textOf(body: unknown): string {
  if (typeof body !== 'string') return JSON.stringify(body);
  try {
    const decoded: unknown = JSON.parse(body);
    return typeof decoded === 'string' ? decoded : body;
  } catch {
    return body;
  }
}

describe('the documentation example leaveFunRoom', () => {
  let app: SailsTestApp;
  before(async () => { app = await liftFixture(); });
  after(async () => { await lowerFixture(app); });

  describe('over HTTP', () => {
    it('answers 400 "`roomName` is required." when roomName is missing', async () => {
      const res = await supertest(urlOf(app)).post(LEAVE_FUN_ROOM).send({});

      assert.equal(res.status, 400);
      assert.equal(res.body, '`roomName` is required.');
    });

    it('answers 400 "This endpoints only supports socket requests." to an HTTP request with a roomName', async () => {
      const res = await supertest(urlOf(app)).post(LEAVE_FUN_ROOM).send({ roomName: 'fun' });

      assert.equal(res.status, 400);
      assert.equal(res.body, 'This endpoints only supports socket requests.');
    });

    it('gives the same answer through the Express app without a listening socket (supertest on sails.hooks.http.app)', async () => {
      const res = await supertest(app.hooks.http.app as Parameters<typeof supertest>[0]).post(LEAVE_FUN_ROOM).send({ roomName: 'fun' });

      assert.equal(res.status, 400);
      assert.equal(res.body, 'This endpoints only supports socket requests.');
    });
  });

  for (const kind of CLIENT_KINDS) {
    describe(`over a socket (${kind.name})`, () => {
      let client: TestClient;
      let me: Listener;
      before(async () => {
        client = await kind.connect(urlOf(app));
        me = await listenerFor(client);
      });
      after(() => client?.disconnect());

      it('answers 400 "`roomName` is required." when roomName is missing, and leaves nothing', async () => {
        await app.sockets.join(me.socketId, 'fun');

        const { statusCode, body } = await client.request('post', LEAVE_FUN_ROOM, {});

        assert.equal(statusCode, 400);
        assert.equal(textOf(body), '`roomName` is required.');
        assert.deepEqual(await roomsReaching(app, me, ['fun']), ['fun'], 'still in the room');
      });

      it("answers 200 {message: 'Left a fun room called fun!'}, and the client is really out of the room", async () => {
        await client.request('post', '/rooms/join-fun-room', { roomName: 'fun' });
        await app.sockets.join(me.socketId, 'other');
        assert.deepEqual(await roomsReaching(app, me, ['fun', 'other']), ['fun', 'other']);

        const { statusCode, body } = await client.request('post', LEAVE_FUN_ROOM, { roomName: 'fun' });

        assert.equal(statusCode, 200);
        assert.deepEqual(body, { message: 'Left a fun room called fun!' });
        assert.deepEqual(localMembersOf(app, 'fun'), []);
        assert.deepEqual(await roomsReaching(app, me, ['fun', 'other']), ['other']);
      });

      it('answers 200 when the client was not in the room (leaving is idempotent)', async () => {
        const { statusCode, body } = await client.request('post', LEAVE_FUN_ROOM, { roomName: 'never-joined' });

        assert.equal(statusCode, 200);
        assert.deepEqual(body, { message: 'Left a fun room called never-joined!' });
      });

      it('leaves every room of an array of room names sent by the client', async () => {
        await app.sockets.join(me.socketId, ['fun-1', 'fun-2', 'fun-3']);

        const { statusCode } = await client.request('post', LEAVE_FUN_ROOM, { roomName: ['fun-1', 'fun-2'] });

        assert.equal(statusCode, 200);
        assert.deepEqual(await roomsReaching(app, me, ['fun-1', 'fun-2', 'fun-3']), ['fun-3']);
      });

      const badRoomNames: { what: string; roomName: unknown }[] = [
        { what: 'an object', roomName: { a: 1 } },
        { what: 'a number', roomName: 5 },
        { what: 'an empty string', roomName: '' },
      ];
      for (const { what, roomName } of badRoomNames) {
        it(`answers 500 with the E_INVALID_ROOM message when the client sends ${what} as roomName, changes nothing, and the server stays up`, async () => {
          await app.sockets.join(me.socketId, 'fun');
          // The error the hook gives for this value, called directly (its usage warning silenced).
          const usageWarning = captureLog(app, 'warn');
          const expected = await app.hooks.rooms.leave(me.socketId, roomName as string).then(
            () => assert.fail(`leave() accepted ${what} as a room name`),
            (err: Error & { code?: string }) => err,
          ).finally(() => usageWarning.restore());
          assert.equal(expected.code, 'E_INVALID_ROOM');
          const errorLog = captureLog(app, 'error');
          let response;
          try {
            response = await client.request('post', LEAVE_FUN_ROOM, { roomName });
          } finally {
            errorLog.restore();
          }

          assert.equal(response.statusCode, 500);
          assert.ok(textOf(response.body).includes(expected.message), `body: ${textOf(response.body)}`);
          assert.ok(errorLog.messages.some((message) => message.includes(expected.message)), 'res.serverError logged the error');
          assert.deepEqual(await roomsReaching(app, me, ['fun']), ['fun'], 'still in the room');

          const next = await client.request('post', LEAVE_FUN_ROOM, { roomName: 'fun' });
          assert.equal(next.statusCode, 200, 'the server still answers');
          assert.deepEqual(await roomsReaching(app, me, ['fun']), []);
        });
      }

      it("answers 500 E_INVALID_ROOM when the client names its own ID room, and stays reachable by its ID", async () => {
        const errorLog = captureLog(app, 'error');
        let response;
        try {
          response = await client.request('post', LEAVE_FUN_ROOM, { roomName: me.socketId });
        } finally {
          errorLog.restore();
        }

        assert.equal(response.statusCode, 500);
        assert.match(textOf(response.body), /own ID room/);
        assert.deepEqual(localMembersOf(app, me.socketId), [me.socketId]);
        assert.deepEqual(await roomsReaching(app, me, [me.socketId]), [me.socketId]);
      });
    });
  }
});
