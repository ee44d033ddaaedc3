import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import { serverNamedBy, stampSocketIds } from '../../lib/transport/redis/socket-ids';
import { nextEvent } from '../support/events';

const UID = 'Srv0123456789abc';

describe('socket IDs that name their server', () => {
  let io: Server;
  let url: string;
  const clients: ClientSocket[] = [];

  beforeEach(async () => {
    const http = createServer();
    io = new Server(http, { connectionStateRecovery: { maxDisconnectionDuration: 10_000 } });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.disconnect();
    await io.close();
  });

  /** A client connected, and its socket on the server. */
  async function connected(): Promise<{ client: ClientSocket; socket: Socket }> {
    const arrived = nextEvent<Socket>(io, 'connection', 5000);
    const client = connect(url, { transports: ['websocket'], forceNew: true });
    clients.push(client);
    const [socket] = await Promise.all([arrived, nextEvent(client, 'connect', 5000)]);
    return { client, socket };
  }

  it('name the server the socket connected to: the server, the client and its own room agree', async () => {
    const unstamp = stampSocketIds(io.of('/'), UID);
    try {
      const { client, socket } = await connected();
      assert.equal(serverNamedBy(socket.id), UID);
      assert.equal(client.id, socket.id);
      assert.ok(io.of('/').sockets.get(socket.id) === socket, 'filed under its ID');
      assert.ok(socket.rooms.has(socket.id), 'in the room named after its ID');
    } finally {
      unstamp();
    }
  });

  it('are made no more once undone, and the namespace is as it was', async () => {
    const unstamp = stampSocketIds(io.of('/'), UID);
    unstamp();
    assert.equal(Object.prototype.hasOwnProperty.call(io.of('/'), '_createSocket'), false);
    const { socket } = await connected();
    assert.equal(serverNamedBy(socket.id), undefined, socket.id);
  });

  it('keep the ID a recovered socket had, without naming the server twice', async () => {
    const unstamp = stampSocketIds(io.of('/'), UID);
    try {
      const { client, socket } = await connected();
      const id = socket.id;
      // A client resumes from the last event it received: it must have received one.
      const received = nextEvent(client, 'hello', 5000);
      socket.emit('hello');
      await received;
      const back = nextEvent<Socket>(io, 'connection', 5000);
      // The connection drops without a disconnect from either side: socket.io recovers the session.
      (client.io as unknown as { engine: { close(): void } }).engine.close();
      const recovered = await back;
      assert.equal(recovered.recovered, true);
      assert.equal(recovered.id, id);
    } finally {
      unstamp();
    }
  });

  it('read a server only from an ID that names one', () => {
    assert.equal(serverNamedBy(`${UID}.AbCdEf`), UID);
    assert.equal(serverNamedBy('AbCdEf0123456789ghij'), undefined, "socket.io's own IDs have no '.'");
    assert.equal(serverNamedBy('.AbCdEf'), undefined);
  });

  it('wrap a factory that creates sockets synchronously as one that returns a promise', () => {
    const nsp = { _createSocket: () => ({ id: 'AbCdEf', recovered: false }) };
    stampSocketIds(nsp as unknown as Parameters<typeof stampSocketIds>[0], UID);
    assert.deepEqual(nsp._createSocket(), { id: `${UID}.AbCdEf`, recovered: false });
  });

  it('leave IDs as they are where socket.io has no socket factory to wrap', () => {
    const nsp = {} as Parameters<typeof stampSocketIds>[0];
    const unstamp = stampSocketIds(nsp, UID);
    unstamp();
    assert.deepEqual(Object.keys(nsp), []);
  });
});
