import assert from 'node:assert/strict';
import { CLIENT_KINDS } from '../support/clients';
import { liftFixture, lowerFixture, urlOf, type SailsTestApp } from '../support/fixture';

describe('smoke', () => {
  let app: SailsTestApp;
  before(async () => { app = await liftFixture(); });
  after(async () => { await lowerFixture(app); });

  for (const kind of CLIENT_KINDS) {
    it(`connects with ${kind.name}`, async () => {
      const client = await kind.connect(urlOf(app));
      try {
        const id = await client.socketId();
        assert.ok(app.io.of('/').sockets.has(id));
        const { statusCode, body } = await client.request('post', '/rooms/join-fun-room', { roomName: 'fun' });
        assert.equal(statusCode, 200);
        assert.deepEqual(body, { message: 'Joined a fun room called fun!' });
      } finally {
        client.disconnect();
      }
    });
  }
});
