import assert from 'node:assert/strict';
import { SocketRoutes } from '../../lib/transport/redis/routes';

describe('the routes to the servers holding sockets', () => {
  it('name the servers holding the sockets of a request, each once, or none if one is unknown', () => {
    const routes = new SocketRoutes();
    routes.learn('b', ['s1', 's2']);
    routes.learn('c', ['s3']);
    assert.deepEqual(routes.holdersOf(['s1']), ['b']);
    assert.deepEqual(routes.holdersOf(['s1', 's2']), ['b']);
    assert.deepEqual(routes.holdersOf(['s1', 's3', 's2']), ['b', 'c']);
    assert.equal(routes.holdersOf(['s1', 'unknown']), undefined, 'one unknown: ask them all');
    assert.equal(routes.holdersOf([]), undefined);
  });

  it('take the server a socket ID names where none was learned, and prefer what was learned', () => {
    const routes = new SocketRoutes();
    assert.deepEqual(routes.holdersOf(['d.x1', 'e.x2', 'd.x3']), ['d', 'e']);
    routes.learn('b', ['d.x1']);
    assert.deepEqual(routes.holdersOf(['d.x1']), ['b'], 'resumed on b, as its reply said');
    assert.equal(routes.holdersOf(['.x', 'd.x3']), undefined, 'an empty name names no server');
  });

  it('forget stale routes, and follow a socket learned again elsewhere', () => {
    const routes = new SocketRoutes();
    routes.learn('b', ['s1', 's2']);
    routes.forget(['s1']);
    assert.equal(routes.holdersOf(['s1']), undefined);
    assert.deepEqual(routes.holdersOf(['s2']), ['b']);
    routes.learn('c', ['s2']);
    assert.deepEqual(routes.holdersOf(['s2']), ['c']);
  });

  it('keep at most their limit, the least recently learned going first', () => {
    const routes = new SocketRoutes(3);
    routes.learn('b', ['s1', 's2', 's3']);
    routes.learn('b', ['s1']);
    routes.learn('c', ['s4']);
    assert.equal(routes.size, 3);
    assert.equal(routes.holdersOf(['s2']), undefined, 's2 was the least recently learned');
    assert.deepEqual(routes.holdersOf(['s1']), ['b']);
    assert.deepEqual(routes.holdersOf(['s4']), ['c']);
  });
});
