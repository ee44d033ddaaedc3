import assert from 'node:assert/strict';
import { CLIENT_KINDS, connectRaw, connectSailsIo, type TestClient } from '../support/clients';
import { waitFor } from '../support/events';
import { captureSocketRequest } from '../support/requests';
import { liftFixture, lowerFixture, urlOf, type SailsTestApp } from '../support/fixture';
import {
  listenerFor,
  localMembersOf,
  localRoomsOf,
  roomsReaching,
  roomsReachingEach,
  serverSocketOf,
  type Listener,
} from '../support/rooms';
import type { RoomsError } from '../../lib/errors';
import type { RoomsResult } from '../../lib/types';

/** A socket ID no server has handed out (socket.io's own are 20 characters of base64url). */
const UNKNOWN_SOCKET_ID = 'no-such-socket-0000000';

function sorted(values: readonly string[] | null): string[] {
  return [...(values ?? [])].sort();
}

describe('sails.sockets.leave on one server', () => {
  let app: SailsTestApp;
  before(async () => { app = await liftFixture(); });
  after(async () => { await lowerFixture(app); });

  for (const kind of CLIENT_KINDS) {
    describe(`with ${kind.name} clients`, () => {
      let client: TestClient;
      let other: TestClient;
      let third: TestClient;
      let me: Listener;
      let them: Listener;
      let thirdListener: Listener;

      before(async () => {
        client = await kind.connect(urlOf(app));
        other = await kind.connect(urlOf(app));
        third = await kind.connect(urlOf(app));
        [me, them, thirdListener] = await Promise.all([client, other, third].map(listenerFor));
      });
      after(() => {
        for (const connected of [client, other, third]) connected?.disconnect();
      });

      it('joins through the join action, after which a broadcast to the room arrives', async () => {
        assert.deepEqual(await roomsReaching(app, me, ['lobby']), [], 'not in the room yet');

        const { statusCode } = await client.request('post', '/rooms/join-fun-room', { roomName: 'lobby' });

        assert.equal(statusCode, 200);
        assert.deepEqual(localMembersOf(app, 'lobby'), [me.socketId]);
        assert.deepEqual(await roomsReaching(app, me, ['lobby']), ['lobby']);
      });

      it('leaves the room a socket request names through the documentation action leaveFunRoom, and stays in its other rooms', async () => {
        await app.sockets.join(me.socketId, ['fun', 'games']);
        assert.deepEqual(await roomsReaching(app, me, ['fun', 'games']), ['fun', 'games']);

        const { statusCode, body } = await client.request('post', '/rooms/leave-fun-room', { roomName: 'fun' });

        assert.equal(statusCode, 200);
        assert.deepEqual(body, { message: 'Left a fun room called fun!' });
        const rooms = localRoomsOf(app, me.socketId);
        assert.ok(!rooms.includes('fun') && rooms.includes('games'), `rooms after the action: ${rooms}`);
        assert.deepEqual(await roomsReaching(app, me, ['fun', 'games']), ['games']);
      });

      it('leaves by the socket request req an action got, before leave() returns', async () => {
        await app.sockets.join(me.socketId, ['by-req', 'by-req-kept']);
        const req = await captureSocketRequest(app, client);

        const pending = app.sockets.leave(req, 'by-req');
        assert.ok(!req.socket.rooms.has('by-req'), 'the socket left before leave() returned');
        assert.deepEqual(localMembersOf(app, 'by-req'), []);

        assert.deepEqual(await pending, { matched: 1, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 });
        assert.deepEqual(await roomsReaching(app, me, ['by-req', 'by-req-kept']), ['by-req-kept']);
      });

      it('leaves by socket.io Socket, before leave() returns', async () => {
        const socket = serverSocketOf(app, me.socketId);
        await app.sockets.join(socket, ['by-socket', 'by-socket-kept']);

        const pending = app.sockets.leave(socket, 'by-socket');
        assert.ok(!socket.rooms.has('by-socket'), 'the socket left before leave() returned');
        assert.ok(!app.io.of('/').adapter.rooms.has('by-socket'), 'the emptied room is gone from the adapter');

        assert.deepEqual(await pending, { matched: 1, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 });
        assert.deepEqual(await roomsReaching(app, me, ['by-socket', 'by-socket-kept']), ['by-socket-kept']);
      });

      it('leaves by socket ID string, before leave() returns', async () => {
        await app.sockets.join(me.socketId, ['by-id', 'by-id-kept']);

        const pending = app.sockets.leave(me.socketId, 'by-id');
        assert.ok(!localRoomsOf(app, me.socketId).includes('by-id'), 'the socket left before leave() returned');

        assert.deepEqual(await pending, { matched: 1, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 });
        assert.deepEqual(await roomsReaching(app, me, ['by-id', 'by-id-kept']), ['by-id-kept']);
      });

      it('leaves by an array mixing a req, a Socket, a socket ID and an unknown ID', async () => {
        const everyone = [me, them, thirdListener];
        await app.sockets.join(everyone.map((listener) => listener.socketId), ['mixed', 'mixed-kept']);
        const req = await captureSocketRequest(app, client);

        const pending = app.sockets.leave([req, serverSocketOf(app, them.socketId), thirdListener.socketId, UNKNOWN_SOCKET_ID], 'mixed');
        assert.deepEqual(localMembersOf(app, 'mixed'), [], 'all three left before leave() returned');

        assert.deepEqual(await pending, { matched: 3, servers: 1, notFound: [UNKNOWN_SOCKET_ID], unreachable: [], unreachableServers: 0 });
        assert.deepEqual(await roomsReachingEach(app, everyone, ['mixed', 'mixed-kept']), [['mixed-kept'], ['mixed-kept'], ['mixed-kept']]);
      });

      it('counts a socket named twice in different forms once', async () => {
        await app.sockets.join(me.socketId, 'twice');
        const req = await captureSocketRequest(app, client);

        const result = await app.sockets.leave([req, serverSocketOf(app, me.socketId), me.socketId], 'twice');

        assert.deepEqual(result, { matched: 1, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 });
        assert.deepEqual(await roomsReaching(app, me, ['twice']), []);
      });

      it('leaves every room of an array of rooms and stays in the rooms not named', async () => {
        await app.sockets.join(me.socketId, ['many-1', 'many-2', 'many-3']);

        const pending = app.sockets.leave(me.socketId, ['many-1', 'many-3']);
        const rooms = localRoomsOf(app, me.socketId);
        assert.ok(!rooms.includes('many-1') && !rooms.includes('many-3') && rooms.includes('many-2'), `rooms right after leave(): ${rooms}`);

        assert.deepEqual(await pending, { matched: 1, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 });
        assert.deepEqual(await roomsReaching(app, me, ['many-1', 'many-2', 'many-3']), ['many-2']);
      });

      it('joins by socket ID, before join() returns, after which a broadcast to the room arrives', async () => {
        const pending = app.sockets.join(them.socketId, 'joined-by-id');
        assert.deepEqual(localMembersOf(app, 'joined-by-id'), [them.socketId], 'joined before join() returned');

        assert.deepEqual(await pending, { matched: 1, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 });
        assert.deepEqual(await roomsReachingEach(app, [me, them], ['joined-by-id']), [[], ['joined-by-id']]);
      });

      it("treats '__proto__', 'constructor' and a name with spaces and unicode as ordinary rooms", async () => {
        const oddRooms = ['__proto__', 'constructor', 'salle des fêtes 🎉 — 会议室'];
        await app.sockets.join(me.socketId, oddRooms);
        assert.deepEqual(await roomsReaching(app, me, oddRooms), oddRooms);
        assert.deepEqual(sorted(await app.hooks.rooms.roomsOf(me.socketId)).filter((room) => oddRooms.includes(room)), sorted(oddRooms));
        assert.deepEqual(await app.hooks.rooms.membersOf('__proto__'), [me.socketId]);

        await app.sockets.leave(me.socketId, oddRooms[0]);
        assert.deepEqual(await roomsReaching(app, me, oddRooms), oddRooms.slice(1));

        await app.sockets.leave(serverSocketOf(app, me.socketId), oddRooms.slice(1));
        assert.deepEqual(await roomsReaching(app, me, oddRooms), []);
        for (const room of oddRooms) assert.deepEqual(await app.hooks.rooms.membersOf(room), [], `members of ${room}`);
      });
    });
  }

  describe('its result', () => {
    let client: TestClient;
    let me: Listener;
    before(async () => {
      client = await connectRaw(urlOf(app));
      me = await listenerFor(client);
    });
    after(() => client?.disconnect());

    it('says how many sockets matched on how many servers, and which IDs were not found', async () => {
      await app.sockets.join(me.socketId, ['result-a', 'result-b']);

      const result = await app.sockets.leave(me.socketId, ['result-a', 'result-b']);

      assert.deepEqual(result, { matched: 1, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 });
    });

    it('is matched 0 and notFound [id], not an error, for a socket ID connected nowhere (promise)', async () => {
      const result = await app.sockets.leave(UNKNOWN_SOCKET_ID, 'anywhere');

      assert.deepEqual(result, { matched: 0, servers: 1, notFound: [UNKNOWN_SOCKET_ID], unreachable: [], unreachableServers: 0 });
    });

    it('is matched 0 and notFound [id], not an error, for a socket ID connected nowhere (callback)', async () => {
      const [err, result] = await new Promise<[RoomsError | null, RoomsResult | undefined]>((resolve) => {
        app.sockets.leave(UNKNOWN_SOCKET_ID, 'anywhere', (cbErr, cbResult) => resolve([cbErr, cbResult]));
      });

      assert.equal(err, null);
      assert.deepEqual(result, { matched: 0, servers: 1, notFound: [UNKNOWN_SOCKET_ID], unreachable: [], unreachableServers: 0 });
    });

    it('is matched 0 and notFound [id] for the Socket of a client that disconnected, and join() does not put it back in a room', async () => {
      const gone = await connectSailsIo(urlOf(app));
      const socket = serverSocketOf(app, (await listenerFor(gone)).socketId);
      gone.disconnect();
      await waitFor(() => socket.disconnected && !app.io.of('/').sockets.has(socket.id), `the server to see ${socket.id} disconnect`);

      assert.deepEqual(await app.sockets.join(socket, 'ghosts'), { matched: 0, servers: 1, notFound: [socket.id], unreachable: [], unreachableServers: 0 });
      assert.equal(app.io.of('/').adapter.rooms.has('ghosts'), false, 'no room was created for a disconnected socket');
      assert.deepEqual(await app.sockets.leave(socket, 'ghosts'), { matched: 0, servers: 1, notFound: [socket.id], unreachable: [], unreachableServers: 0 });
    });

    it('is the same through the promise API of sails.hooks.rooms', async () => {
      await app.hooks.rooms.join(me.socketId, 'hook-api');
      assert.deepEqual(await app.hooks.rooms.roomsOf(me.socketId), ['hook-api']);

      const result = await app.hooks.rooms.leave([me.socketId, UNKNOWN_SOCKET_ID], 'hook-api');

      assert.deepEqual(result, { matched: 1, servers: 1, notFound: [UNKNOWN_SOCKET_ID], unreachable: [], unreachableServers: 0 });
      assert.deepEqual(await app.hooks.rooms.roomsOf(me.socketId), []);
      assert.equal(await app.hooks.rooms.roomsOf(UNKNOWN_SOCKET_ID), null, 'a socket connected nowhere has no rooms');
    });
  });

  describe('room-to-room operations and leaveAll', () => {
    // A and B are in the source room; C is not. Fresh clients per test: leaveAll may empty a socket's rooms.
    let clients: TestClient[] = [];
    let a: Listener;
    let b: Listener;
    let c: Listener;

    beforeEach(async () => {
      clients = await Promise.all([connectSailsIo, connectRaw, connectRaw].map((connect) => connect(urlOf(app))));
      [a, b, c] = await Promise.all(clients.map(listenerFor));
      await app.sockets.join([a.socketId, b.socketId], ['source', 'side']);
      await app.sockets.join(c.socketId, ['side', 'dest-1']);
    });
    afterEach(() => {
      for (const client of clients) client.disconnect();
      clients = [];
    });

    it('addRoomMembersToRooms adds every member of the source room to each destination room, before it returns', async () => {
      const pending = app.sockets.addRoomMembersToRooms('source', ['dest-1', 'dest-2']);
      assert.deepEqual(localMembersOf(app, 'dest-1'), sorted([a.socketId, b.socketId, c.socketId]));
      assert.deepEqual(localMembersOf(app, 'dest-2'), sorted([a.socketId, b.socketId]));

      assert.deepEqual(await pending, { matched: 2, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 });
      assert.deepEqual(sorted(await app.hooks.rooms.membersOf('dest-2')), sorted([a.socketId, b.socketId]));
      assert.deepEqual(sorted(await app.hooks.rooms.roomsOf(a.socketId)), ['dest-1', 'dest-2', 'side', 'source']);
      assert.deepEqual(sorted(await app.hooks.rooms.roomsOf(c.socketId)), ['dest-1', 'side'], 'C is not in the source room');
      assert.deepEqual(await roomsReachingEach(app, [a, b, c], ['dest-2']), [['dest-2'], ['dest-2'], []]);
    });

    it('removeRoomMembersFromRooms removes the members of the source room from the rooms, and only them', async () => {
      await app.sockets.addRoomMembersToRooms('source', ['dest-1', 'dest-2']);

      const pending = app.sockets.removeRoomMembersFromRooms('source', 'dest-1');
      assert.deepEqual(localMembersOf(app, 'dest-1'), [c.socketId], 'A and B left before it returned; C stays');

      assert.deepEqual(await pending, { matched: 2, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 });
      assert.deepEqual(await app.hooks.rooms.membersOf('dest-1'), [c.socketId]);
      assert.deepEqual(sorted(await app.hooks.rooms.membersOf('dest-2')), sorted([a.socketId, b.socketId]));
      assert.deepEqual(await roomsReachingEach(app, [a, b, c], ['dest-1', 'dest-2']), [['dest-2'], ['dest-2'], ['dest-1']]);
    });

    it('removeRoomMembersFromRooms never takes a member out of its own ID room', async () => {
      await app.sockets.removeRoomMembersFromRooms('source', [a.socketId, 'side']);

      assert.deepEqual(localRoomsOf(app, a.socketId), sorted([a.socketId, 'source']));
      assert.deepEqual(await roomsReaching(app, a, [a.socketId, 'side']), [a.socketId]);
    });

    it('leaveAll by default takes the members of the source room out of all their rooms, the source room too, but keeps their own ID rooms', async () => {
      await app.sockets.join(a.socketId, 'only-a');

      const pending = app.sockets.leaveAll('source');
      assert.deepEqual(localRoomsOf(app, a.socketId), [a.socketId], 'A left everything but its ID room before leaveAll() returned');
      assert.deepEqual(localRoomsOf(app, b.socketId), [b.socketId]);

      assert.deepEqual(await pending, { matched: 2, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 });
      assert.deepEqual(await app.hooks.rooms.roomsOf(a.socketId), []);
      assert.deepEqual(await app.hooks.rooms.membersOf('source'), []);
      assert.deepEqual(await app.hooks.rooms.membersOf('side'), [c.socketId], 'C was not in the source room');
      assert.deepEqual(
        await roomsReachingEach(app, [a, b, c], ['source', 'side', 'only-a']),
        [[], [], ['side']],
      );
    });

    it('leaveAll with includeSourceRoom: false keeps the members in the source room', async () => {
      const result = await app.sockets.leaveAll('source', { includeSourceRoom: false });

      assert.deepEqual(result, { matched: 2, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 });
      assert.deepEqual(await app.hooks.rooms.roomsOf(a.socketId), ['source']);
      assert.deepEqual(sorted(await app.hooks.rooms.membersOf('source')), sorted([a.socketId, b.socketId]));
      assert.deepEqual(await app.hooks.rooms.membersOf('side'), [c.socketId]);
      assert.deepEqual(await roomsReachingEach(app, [a, b, c], ['source', 'side']), [['source'], ['source'], ['side']]);
    });

    it('leaveAll with includeSocketRooms: true also takes the members out of their own ID rooms', async () => {
      const result = await app.sockets.leaveAll('source', { includeSocketRooms: true });

      assert.deepEqual(result, { matched: 2, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 });
      assert.deepEqual(localRoomsOf(app, a.socketId), []);
      assert.deepEqual(await app.hooks.rooms.membersOf(a.socketId), []);
      assert.deepEqual(localRoomsOf(app, c.socketId), sorted([c.socketId, 'side', 'dest-1']));

      // A broadcast to A's ID no longer reaches A: watch through a room it joins afterwards.
      await app.sockets.join(a.socketId, 'after-leave-all');
      assert.deepEqual(await roomsReaching(app, { ...a, sentinelRoom: 'after-leave-all' }, [a.socketId, 'source']), []);
    });

    it("treats '__proto__' and 'constructor' as ordinary source and destination rooms", async () => {
      await app.sockets.join([a.socketId, c.socketId], '__proto__');

      assert.deepEqual(await app.sockets.addRoomMembersToRooms('__proto__', 'constructor'), { matched: 2, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 });
      assert.deepEqual(sorted(await app.hooks.rooms.membersOf('constructor')), sorted([a.socketId, c.socketId]));

      assert.deepEqual(await app.sockets.removeRoomMembersFromRooms('constructor', '__proto__'), { matched: 2, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 });
      assert.deepEqual(await app.hooks.rooms.membersOf('__proto__'), []);

      assert.deepEqual(await app.sockets.leaveAll('constructor'), { matched: 2, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 });
      assert.deepEqual(await app.hooks.rooms.membersOf('constructor'), []);
      assert.deepEqual(await roomsReachingEach(app, [a, b, c], ['__proto__', 'constructor', 'side']), [[], ['side'], []]);
    });
  });
});
