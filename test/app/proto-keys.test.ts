/**
 * Sails 1.5 merges a socket request's body with lodash 3's _.merge, which follows "__proto__"
 * keys into Object.prototype. The fixture app drops such keys from every request packet
 * (fixtures/app/config/bootstrap.js, the README's recipe): these bodies then reach the action
 * without them, and nothing changes in the process's prototypes.
 */
import assert from 'node:assert/strict';
import { CLIENT_KINDS } from '../support/clients';
import { liftFixture, lowerFixture, urlOf, type SailsTestApp } from '../support/fixture';
import { loggedMessages } from '../support/logs';

const prototypes = () => [Object.prototype, Array.prototype, String.prototype, Function.prototype]
  .map((prototype) => Object.getOwnPropertyNames(prototype).join(','));

describe('socket request bodies with "__proto__" keys (Sails\' body merge)', function () {
  this.timeout(30_000);
  let app: SailsTestApp;
  before(async () => { app = await liftFixture({ rooms: { adapter: 'memory' } }); });
  after(async () => { if (app) await lowerFixture(app); });

  for (const kind of CLIENT_KINDS) {
    it(`change no prototype and reach the action without them (${kind.name})`, async () => {
      const client = await kind.connect(urlOf(app));
      const before = prototypes();
      try {
        const polluting = await client.request('post', '/rooms/leave-fun-room', JSON.parse('{"roomName": {"__proto__": "abc"}}'));
        assert.equal(polluting.statusCode, 500);
        assert.match(String(polluting.body), /E_INVALID_ROOM|got an object as roomName/);
        assert.equal(loggedMessages({ level: 'error', message: /^Sending 500 \("Server Error"\) response: \n\s*RoomsError \[E_INVALID_ROOM\]/ }).length, 1);
        const beside = await client.request('post', '/rooms/leave-fun-room', JSON.parse('{"__proto__": {"polluted": true}, "roomName": "fun"}'));
        assert.equal(beside.statusCode, 200);
        assert.deepEqual(prototypes(), before);
        assert.equal(({} as Record<string, unknown>)[0], undefined);
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
      } finally {
        client.disconnect();
      }
    });
  }
});
