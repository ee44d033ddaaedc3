// A typed Sails action and service using sails-hook-rooms; compiled with tsc in `npm test`.
import 'sails-hook-rooms/global';
import type { RoomsError, RoomsResult } from 'sails-hook-rooms';

interface SocketRequest {
  isSocket: true;
  socket: import('socket.io').Socket;
  param(name: string): unknown;
}
interface Response {
  badRequest(message: string): void;
  serverError(err: Error): void;
  json(body: unknown): void;
}

export function leaveFunRoom(req: SocketRequest, res: Response): void {
  const roomName = req.param('roomName');
  if (typeof roomName !== 'string') return res.badRequest('`roomName` is required.');
  sails.sockets.leave(req, roomName, (err: RoomsError | null, result?: RoomsResult) => {
    if (err?.code === 'E_INVALID_ROOM') return res.badRequest(err.message);
    if (err) return res.serverError(err);
    return res.json({ message: `Left a fun room called ${roomName}!`, matched: result?.matched });
  });
}

export async function banUser(socketIds: string[]): Promise<number> {
  const result: RoomsResult = await sails.sockets.leave(socketIds, ['privateAdminRoom', 'chat']);
  await sails.sockets.removeRoomMembersFromRooms('org:7', 'org:7:admins');
  await sails.sockets.leaveAll('org:7', { includeSourceRoom: false });
  const rooms: string[] | null = await sails.hooks.rooms.roomsOf(socketIds[0]!);
  const members: string[] = await sails.hooks.rooms.membersOf('chat');
  void rooms; void members;
  return result.matched + result.servers + result.notFound.length;
}

export function wrongUses(): void {
  // @ts-expect-error: a room name is a string
  void sails.sockets.leave('socket-id', 42);
  // @ts-expect-error: the callback takes (err, result)
  sails.sockets.join('socket-id', 'room', (err: RoomsError | null, result: string) => void [err, result]);
  // @ts-expect-error: leave by callback returns nothing to await
  const nothing: Promise<RoomsResult> = sails.sockets.leave('socket-id', 'room', () => undefined);
  void nothing;
  // @ts-expect-error: not an option of leaveAll
  void sails.sockets.leaveAll('room', { everything: true });
}
