// The rest of a typed Sails app beside the rooms API, with `sails-hook-rooms/global`: its models and
// config merged in, and actions narrowing `req.isSocket` the way apps write them.
import 'sails-hook-rooms/global';
import type { Socket as NetSocket } from 'net';
import type { Socket } from 'socket.io';
import type { RoomsResult, RoomsStats } from 'sails-hook-rooms';

interface UserModel {
  findOne(criteria: { id: number }): Promise<{ id: number; name: string } | undefined>;
}

declare module 'sails-hook-rooms/augment' {
  interface SailsModels {
    user: UserModel;
  }
  interface SailsConfig {
    custom: { lobbyRoom: string };
  }
}

/** A request as apps type it: Sails sets `isSocket` on every request. */
interface Request {
  isSocket: boolean;
  socket: Socket;
  param(name: string): unknown;
}
interface Response {
  badRequest(message: string): void;
  serverError(err: unknown): void;
  json(body: unknown): void;
}

export async function joinLobby(req: Request, res: Response): Promise<void> {
  if (!req.isSocket) return res.badRequest('Socket requests only.');
  const user = await sails.models.user.findOne({ id: Number(req.param('userId')) });
  const lobby: string = sails.config.custom.lobbyRoom;
  try {
    const result: RoomsResult = await sails.sockets.join([req, 'observer-socket-id'], lobby);
    sails.log.verbose('%s joined %s, %d servers answered', user?.name, lobby, result.servers);
    res.json({ joined: lobby });
  } catch (err) {
    sails.log.error(err);
    res.serverError(err);
  }
}

/** A request typed by what Sails puts in `req.socket`: narrowing on `isSocket` picks the socket request. */
type SailsRequest =
  | { isSocket: true; socket: Socket; param(name: string): unknown }
  | { isSocket: false; socket: NetSocket; param(name: string): unknown };

export function leaveLobby(req: SailsRequest, res: Response): void {
  // @ts-expect-error: until narrowed, req may be an HTTP request
  void sails.sockets.leave(req, 'lobby');
  if (!req.isSocket) return res.badRequest('Socket requests only.');
  sails.sockets.leave(req, 'lobby', (err) => (err ? res.serverError(err) : res.json({ left: 'lobby' })));
}

export function lifecycle(): void {
  sails.on('lifted', () => sails.log.info('listening on port %s', sails.config.port));
  sails.after(['hook:rooms:loaded', 'hook:orm:loaded'], () => {
    const stats: RoomsStats = sails.hooks.rooms.stats();
    sails.log.debug('rooms on %s, %d peers; orm: %s', stats.adapter, stats.peers.length, typeof sails.hooks.orm);
  });
  sails.emit('app:ready', { at: Date.now() });
  sails.lift({ port: 1338 }, (err) => err && sails.log.error(err));
  sails.lower((err) => err && sails.log.error(err));
  const timeout: number | undefined = sails.config.rooms.timeout;
  void timeout;
}

export function wrongUses(req: Request): void {
  // @ts-expect-error: a room name is a string
  void sails.sockets.leave(req, 42);
  // @ts-expect-error: no such method on sails.hooks.rooms
  void sails.hooks.rooms.leav(req, 'lobby');
  // @ts-expect-error: not an adapter name
  sails.config.rooms.adapter = 'mongo';
  // @ts-expect-error: not a log level
  sails.log.loud('hello');
  // @ts-expect-error: the merged model wants a numeric id
  void sails.models.user.findOne({ id: 'seven' });
  // @ts-expect-error: the merged config key is a string
  const lobby: number = sails.config.custom.lobbyRoom;
  void lobby;
  // @ts-expect-error: sails itself is typed, not `any`
  void sails.sokets;
}
