import assert from 'node:assert/strict';
import { SocketRoutes } from '../../lib/transport/redis/routes';

describe('the routes to the servers holding sockets', () => {
  it('name the one server holding every socket of a request, or none', () => {
    const routes = new SocketRoutes();
    routes.learn('b', ['s1', 's2']);
    routes.learn('c', ['s3']);
    assert.equal(routes.holderOf(['s1']), 'b');
    assert.equal(routes.holderOf(['s1', 's2']), 'b');
    assert.equal(routes.holderOf(['s1', 's3']), undefined, 'two servers: ask them all');
    assert.equal(routes.holderOf(['s1', 'unknown']), undefined);
    assert.equal(routes.holderOf([]), undefined);
  });

  it('forget stale routes, and follow a socket learned again elsewhere', () => {
    const routes = new SocketRoutes();
    routes.learn('b', ['s1', 's2']);
    routes.forget(['s1']);
    assert.equal(routes.holderOf(['s1']), undefined);
    assert.equal(routes.holderOf(['s2']), 'b');
    routes.learn('c', ['s2']);
    assert.equal(routes.holderOf(['s2']), 'c');
  });

  it('keep at most their limit, the least recently learned going first', () => {
    const routes = new SocketRoutes(3);
    routes.learn('b', ['s1', 's2', 's3']);
    routes.learn('b', ['s1']);
    routes.learn('c', ['s4']);
    assert.equal(routes.size, 3);
    assert.equal(routes.holderOf(['s2']), undefined, 's2 was the least recently learned');
    assert.equal(routes.holderOf(['s1']), 'b');
    assert.equal(routes.holderOf(['s4']), 'c');
  });
});
