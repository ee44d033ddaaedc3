// The same project with `sails-hook-rooms/augment`, which declares no second `sails` (TS2403):
// it types what it uses, through typed locals, and the rest of `sails` stays `any`.
import type { Socket } from 'socket.io';
import type { RoomsHookApi, RoomsResult, RoomsSockets, Sails } from 'sails-hook-rooms/augment';

interface Request {
  isSocket: boolean;
  socket: Socket;
  param(name: string): unknown;
}
interface Response {
  badRequest(message: string): void;
  json(body: unknown): void;
}

export async function leaveLobby(req: Request, res: Response): Promise<void> {
  if (!req.isSocket) return res.badRequest('Socket requests only.');
  const sockets: RoomsSockets = sails.sockets;
  const rooms: RoomsHookApi = sails.hooks.rooms;
  const result: RoomsResult = await sockets.leave(req, 'lobby');
  const members: string[] = await rooms.membersOf('lobby');
  sails.log.info('%d left, %d stay', result.matched, members.length, sails.anything.untyped);
  res.json({ matched: result.matched });
}

/** Or the whole app at once. */
const app: Sails = sails;

export function wrongUses(req: Request): void {
  const sockets: RoomsSockets = sails.sockets;
  const rooms: RoomsHookApi = sails.hooks.rooms;
  // @ts-expect-error: a room name is a string
  void sockets.leave(req, 42);
  // @ts-expect-error: no such method on sails.hooks.rooms
  void rooms.leav(req, 'lobby');
  // @ts-expect-error: no such method on sails.hooks.rooms
  void app.hooks.rooms.leav(req, 'lobby');
  // @ts-expect-error: not an adapter name
  app.config.rooms.adapter = 'mongo';
}
