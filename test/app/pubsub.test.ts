import assert from 'node:assert/strict';
import supertest from 'supertest';
import { macrotaskTurns, recordUnhandledRejections } from '../support/async-checks';
import { CLIENT_KINDS, type TestClient } from '../support/clients';
import { record, waitFor } from '../support/events';
import { captureSocketRequest } from '../support/requests';
import { captureLog, liftFixture, lowerFixture, urlOf, type SailsTestApp } from '../support/fixture';
import {
  drained,
  listenerFor,
  localMembersOf,
  localRoomsOf,
  requestWith,
  serverSocketOf,
  type Listener,
} from '../support/rooms';

/** A message Sails' pubsub hook sends on the `pet` event. */
interface PetMessage {
  verb: 'created' | 'updated' | 'destroyed';
  id: number;
  data?: { name?: string };
}

interface Pet {
  id: number;
  name: string;
}

/** The room of one Pet record and the room of Pet watchers, as Sails' pubsub hook names them. */
const petRoom = (id: number) => `sails_model_pet_${id}:pet`;
const PET_CLASS_ROOM = 'sails_model_create_pet';

describe("Sails' pubsub hook and blueprints, which call sails.sockets.* without callbacks", () => {
  let app: SailsTestApp;
  let logs: ReturnType<typeof captureLog>[];

  before(async () => { app = await liftFixture(); });
  after(async () => { await lowerFixture(app); });

  // Anything the pubsub calls log as a warning or error is a failure of the test that caused it.
  beforeEach(() => { logs = [captureLog(app, 'warn'), captureLog(app, 'error')]; });
  afterEach(function () {
    for (const log of logs) log.restore();
    const logged = logs.flatMap((log) => log.messages);
    if (this.currentTest?.state === 'passed' && logged.length > 0) {
      (this.test as Mocha.Hook).error(new Error(`the test logged warnings or errors:\n${logged.join('\n')}`));
    }
  });

  const http = () => supertest(urlOf(app));

  async function createPetOverHttp(name: string): Promise<Pet> {
    const res = await http().post('/pet').send({ name });
    assert.equal(res.status, 200, `POST /pet: ${res.text}`);
    return res.body as Pet;
  }

  async function renamePetOverHttp(id: number, name: string): Promise<void> {
    const res = await http().patch(`/pet/${id}`).send({ name });
    assert.equal(res.status, 200, `PATCH /pet/${id}: ${res.text}`);
  }

  for (const kind of CLIENT_KINDS) {
    describe(`a ${kind.name} client`, () => {
      let client: TestClient;
      let me: Listener;
      let existing: Pet;

      before(async () => {
        existing = await app.models.pet.create({ name: `Pre-${kind.name}` }).fetch();
        client = await kind.connect(urlOf(app));
        me = await listenerFor(client);
      });
      after(() => client?.disconnect());
      // Each test starts subscribed to every Pet and watching the model, as a socket GET /pet leaves a client.
      beforeEach(async () => {
        const { statusCode } = await client.request('get', '/pet');
        assert.equal(statusCode, 200);
      });

      it('is subscribed to every listed record and watches the model after a socket GET /pet (blueprint find)', async () => {
        const fresh = await kind.connect(urlOf(app));
        try {
          const { socketId } = await listenerFor(fresh);
          assert.deepEqual(localRoomsOf(app, socketId), [socketId], 'a new client is in no room but its own');

          const { statusCode, body } = await fresh.request<Pet[]>('get', '/pet');

          assert.equal(statusCode, 200);
          assert.ok(body.some((pet) => pet.id === existing.id), 'the list has the existing pet');
          assert.deepEqual(localRoomsOf(app, socketId), [socketId, PET_CLASS_ROOM, ...body.map((pet) => petRoom(pet.id))].sort());
          assert.ok((await app.hooks.rooms.membersOf(PET_CLASS_ROOM)).includes(socketId));
        } finally {
          fresh.disconnect();
        }
      });

      it('receives `pet` created for a Pet created by another request, and is subscribed to it', async () => {
        const received = record<PetMessage>(client, 'pet');
        try {
          const pet = await createPetOverHttp(`Rex-${kind.name}`);

          await waitFor(() => received.received.some((msg) => msg.verb === 'created' && msg.id === pet.id), `'created' for pet ${pet.id}`);
          assert.ok(localRoomsOf(app, me.socketId).includes(petRoom(pet.id)), 'introduced to the new record room (addRoomMembersToRooms)');
        } finally {
          received.stop();
        }
      });

      it('receives `pet` updated for an update of a subscribed record', async () => {
        const received = record<PetMessage>(client, 'pet');
        try {
          await renamePetOverHttp(existing.id, `Max-${kind.name}`);

          await waitFor(() => received.received.some((msg) => msg.verb === 'updated' && msg.id === existing.id), `'updated' for pet ${existing.id}`);
          const update = received.received.find((msg) => msg.verb === 'updated' && msg.id === existing.id)!;
          assert.equal(update.data?.name, `Max-${kind.name}`);
        } finally {
          received.stop();
        }
      });

      it('no longer receives updates of a record after Pet.unsubscribe(socket, [id]) on the server, and still receives the others', async () => {
        const kept = await createPetOverHttp(`Kept-${kind.name}`);
        await waitFor(() => localRoomsOf(app, me.socketId).includes(petRoom(kept.id)), `subscribed to ${petRoom(kept.id)}`);

        const returned = app.models.pet.unsubscribe(serverSocketOf(app, me.socketId), [existing.id]);
        assert.equal(returned, undefined);
        assert.ok(!localRoomsOf(app, me.socketId).includes(petRoom(existing.id)), 'left the record room before unsubscribe() returned');

        const received = record<PetMessage>(client, 'pet');
        try {
          await renamePetOverHttp(existing.id, `Gone-${kind.name}`);
          await renamePetOverHttp(kept.id, `Still-${kind.name}`);
          await drained(app, me);

          const updatedIds = received.received.filter((msg) => msg.verb === 'updated').map((msg) => msg.id);
          assert.deepEqual(updatedIds, [kept.id]);
        } finally {
          received.stop();
        }
      });

      it('no longer receives updates of a record after Pet.unsubscribe(req, [id]) with a socket request', async () => {
        const pet = await createPetOverHttp(`ByReq-${kind.name}`);
        await waitFor(() => localRoomsOf(app, me.socketId).includes(petRoom(pet.id)), `subscribed to ${petRoom(pet.id)}`);
        const req = await captureSocketRequest(app, client);

        app.models.pet.unsubscribe(req, [pet.id]);
        assert.ok(!localRoomsOf(app, me.socketId).includes(petRoom(pet.id)), 'left before unsubscribe() returned');

        const received = record<PetMessage>(client, 'pet');
        try {
          await renamePetOverHttp(pet.id, `ByReq-renamed-${kind.name}`);
          await drained(app, me);

          assert.deepEqual(received.received.filter((msg) => msg.id === pet.id), []);
        } finally {
          received.stop();
        }
      });

      it('receives `pet` destroyed when a subscribed record is destroyed over HTTP, then is retired from its room (removeRoomMembersFromRooms)', async () => {
        const pet = await createPetOverHttp(`Doomed-${kind.name}`);
        await waitFor(() => localRoomsOf(app, me.socketId).includes(petRoom(pet.id)), `subscribed to ${petRoom(pet.id)}`);
        const received = record<PetMessage>(client, 'pet');
        try {
          const res = await http().delete(`/pet/${pet.id}`);

          assert.equal(res.status, 200);
          assert.deepEqual(localMembersOf(app, petRoom(pet.id)), [], 'nobody is left in the room of the destroyed record');
          await drained(app, me);
          assert.deepEqual(received.received.filter((msg) => msg.id === pet.id).map((msg) => msg.verb), ['destroyed']);
        } finally {
          received.stop();
        }
      });

      it('leaves the room of a record it destroys over a socket request (blueprint unsubscribe(req) and _retire)', async () => {
        const pet = await createPetOverHttp(`SelfDoomed-${kind.name}`);
        await waitFor(() => localRoomsOf(app, me.socketId).includes(petRoom(pet.id)), `subscribed to ${petRoom(pet.id)}`);

        const { statusCode } = await requestWith(client, 'delete', `/pet/${pet.id}`);

        assert.equal(statusCode, 200);
        assert.ok(!localRoomsOf(app, me.socketId).includes(petRoom(pet.id)));
        assert.deepEqual(await app.hooks.rooms.membersOf(petRoom(pet.id)), []);
        assert.ok(localRoomsOf(app, me.socketId).includes(PET_CLASS_ROOM), 'still watches Pet');
      });
    });
  }

  describe('a direct pubsub-style call', () => {
    let client: TestClient;
    let me: Listener;
    before(async () => {
      client = await CLIENT_KINDS[0].connect(urlOf(app));
      me = await listenerFor(client);
    });
    after(() => client?.disconnect());

    it('join(socket, room) with no callback does not throw, applies the change at once, and returns a promise of the result', async () => {
      const socket = serverSocketOf(app, me.socketId);

      const ret = app.sockets.join(socket, 'sails_model_pet_1:pet');

      assert.ok(socket.rooms.has('sails_model_pet_1:pet'), 'joined before join() returned');
      assert.ok(ret instanceof Promise, 'join() without a callback returns a promise');
      assert.deepEqual(await ret, { matched: 1, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 });
    });

    it('leave(socket, room) with no callback does not throw, applies the change at once, and returns a promise of the result', async () => {
      const socket = serverSocketOf(app, me.socketId);
      await app.sockets.join(socket, 'sails_model_pet_2:pet');

      const ret = app.sockets.leave(socket, 'sails_model_pet_2:pet');

      assert.ok(!socket.rooms.has('sails_model_pet_2:pet'), 'left before leave() returned');
      assert.ok(ret instanceof Promise);
      assert.deepEqual(await ret, { matched: 1, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 });
    });

    it('addRoomMembersToRooms and removeRoomMembersFromRooms with no callback (as _introduce and _retire call them) apply at once', async () => {
      await app.sockets.join(me.socketId, 'sails_model_create_widget');

      const introduced = app.sockets.addRoomMembersToRooms('sails_model_create_widget', 'sails_model_widget_9:widget');
      assert.deepEqual(localMembersOf(app, 'sails_model_widget_9:widget'), [me.socketId]);
      const retired = app.sockets.removeRoomMembersFromRooms('sails_model_create_widget', 'sails_model_widget_9:widget');
      assert.deepEqual(localMembersOf(app, 'sails_model_widget_9:widget'), []);

      assert.ok(introduced instanceof Promise && retired instanceof Promise);
      assert.deepEqual(await Promise.all([introduced, retired]), [
        { matched: 1, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 },
        { matched: 1, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 },
      ]);
    });

    it('a pubsub call that hands join() no room (Pet.subscribe(socket, [0])) is logged as a warning, throws nothing and rejects nothing unhandled', async () => {
      const socket = serverSocketOf(app, me.socketId);
      const roomsBefore = localRoomsOf(app, me.socketId);

      const unhandled = recordUnhandledRejections();
      try {
        // Sails' _room(0) logs an error and returns undefined, which pubsub passes on to join() with no callback.
        assert.doesNotThrow(() => app.models.pet.subscribe(socket, [0]));
        await macrotaskTurns();
      } finally {
        unhandled.stop();
      }

      assert.deepEqual(unhandled.reasons, []);

      const [warnings, errors] = logs.map((log) => log.messages.splice(0));
      assert.ok(warnings.some((message) => message.includes('sails.sockets.join()') && message.includes('undefined')), `warnings: ${warnings.join('; ')}`);
      assert.ok(errors.every((message) => !message.includes('sails.sockets')), `errors: ${errors.join('; ')}`);
      assert.deepEqual(localRoomsOf(app, me.socketId), roomsBefore);
    });
  });
});
