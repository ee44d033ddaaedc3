/** How a RoomsError reads when printed: its code on the first line, as Node prints its own errors. */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { RoomsError } from '../../lib/errors';

describe('RoomsError (unit)', () => {
  const err = new RoomsError('E_TIMEOUT', 'sails-hook-rooms: only 1 of 2 other servers answered within 5000 ms.');

  it('carries its code on the first line of its stack, of util.inspect (what console.log and sails.log print) and of String()', () => {
    const first = 'RoomsError [E_TIMEOUT]: sails-hook-rooms: only 1 of 2 other servers answered within 5000 ms.';
    assert.equal(err.stack!.split('\n')[0], first);
    assert.equal(inspect(err).split('\n')[0], first);
    assert.equal(String(err), first);
  });

  it('is still named RoomsError, an Error, with its code and cause', () => {
    const cause = new Error('ECONNREFUSED');
    const wrapped = new RoomsError('E_UNAVAILABLE', 'no Redis', { cause });
    assert.equal(wrapped.name, 'RoomsError');
    assert.ok(wrapped instanceof Error);
    assert.equal(wrapped.code, 'E_UNAVAILABLE');
    assert.equal(wrapped.cause, cause);
  });
});
