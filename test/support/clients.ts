/**
 * Real clients of a lifted Sails app: sails.io.js on the socket.io-client 2.x it is made for,
 * and a raw socket.io-client 4 that sends Sails virtual requests itself.
 */
import { io as connectV4, type Socket as ClientSocketV4 } from 'socket.io-client';
import { nextEvent } from './events';

export interface Response<T = any> {
  statusCode: number;
  body: T;
}

/** The one shape every test talks to, whichever client library is underneath. */
export interface TestClient {
  readonly kind: 'sails.io.js' | 'socket.io-client@4';
  request<T = any>(method: 'get' | 'post', url: string, data?: Record<string, unknown>): Promise<Response<T>>;
  on(event: string, listener: (...args: any[]) => void): void;
  off(event: string, listener: (...args: any[]) => void): void;
  /** This client's socket ID as the server sees it. */
  socketId(): Promise<string>;
  disconnect(): void;
}

const SDK_QUERY = { __sails_io_sdk_version: '1.2.1', __sails_io_sdk_platform: 'node', __sails_io_sdk_language: 'javascript' };
const CONNECT_TIMEOUT_MS = 5000;

async function socketIdOf(client: TestClient): Promise<string> {
  const { body } = await client.request<{ socketId: string }>('get', '/rooms/whoami');
  return body.socketId;
}

/** sails.io.js 1.x over socket.io-client 2.x, as browsers and Sails' own tests use it. */
export async function connectSailsIo(url: string): Promise<TestClient> {
  // A fresh SDK instance per client: sails.io.js keeps its settings on the io object it augments.
  delete require.cache[require.resolve('sails.io.js')];
  delete require.cache[require.resolve('socket.io-client-v2')];
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const io = require('sails.io.js')(require('socket.io-client-v2'));
  io.sails.autoConnect = false;
  io.sails.environment = 'production';
  io.sails.reconnection = false;
  const socket = io.sails.connect(url, { multiplex: false, transports: ['websocket'] });
  if (!socket.isConnected()) await nextEvent(socket, 'connect', CONNECT_TIMEOUT_MS);

  const client: TestClient = {
    kind: 'sails.io.js',
    request: (method, path, data = {}) => new Promise((resolve) => {
      socket.request({ method, url: path, data }, (body: any, jwr: { statusCode: number }) => {
        resolve({ statusCode: jwr.statusCode, body });
      });
    }),
    on: (event, listener) => socket.on(event, listener),
    off: (event, listener) => socket.off(event, listener),
    socketId: () => socketIdOf(client),
    disconnect: () => { if (socket.isConnected()) socket.disconnect(); },
  };
  return client;
}

/** A raw socket.io-client 4 speaking Sails' virtual request protocol. */
export async function connectRaw(url: string): Promise<TestClient> {
  const socket: ClientSocketV4 = connectV4(url, { transports: ['websocket'], reconnection: false, forceNew: true, query: SDK_QUERY });
  if (!socket.connected) await nextEvent(socket, 'connect', CONNECT_TIMEOUT_MS);

  const client: TestClient = {
    kind: 'socket.io-client@4',
    request: (method, path, data = {}) => new Promise((resolve, reject) => {
      socket.timeout(CONNECT_TIMEOUT_MS).emit(method, { method, url: path, data, headers: {} }, (err: Error | null, jwr: { statusCode: number; body: unknown }) => {
        if (err) reject(err);
        else resolve({ statusCode: jwr.statusCode, body: jwr.body as any });
      });
    }),
    on: (event, listener) => { socket.on(event, listener); },
    off: (event, listener) => { socket.off(event, listener); },
    socketId: async () => socket.id ?? socketIdOf(client),
    disconnect: () => { socket.disconnect(); },
  };
  return client;
}

export const CLIENT_KINDS = [
  { name: 'sails.io.js (socket.io-client 2)', connect: connectSailsIo },
  { name: 'socket.io-client 4', connect: connectRaw },
] as const;
