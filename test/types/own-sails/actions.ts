// Actions of the project that types `sails` itself (sails.d.ts): its own members keep their types
// and this hook's are added, precisely typed.
import type { Socket } from 'socket.io';
import type { RoomsResult, SailsWithRooms } from 'sails-hook-rooms/augment';

interface Request {
  isSocket: boolean;
  socket: Socket;
}

export async function greet(req: Request): Promise<void> {
  if (!req.isSocket) return;
  const port: number = sails.config.port;
  const pets: number = await sails.models.pet.count();
  const result: RoomsResult = await sails.sockets.join(req, 'greeters');
  const members: string[] = await sails.hooks.rooms.membersOf('greeters');
  sails.hooks.orm.teardown(() => undefined);
  sails.log.info(sails.config.custom.greeting, port, pets, result.matched, members, sails.config.rooms.key);
}

/** A type of its own for another part of the app, built on the hook's. */
interface WorkerApp extends SailsWithRooms {
  queue: { push(job: string): void };
}

export async function drain(app: WorkerApp): Promise<void> {
  app.queue.push('drain');
  await app.hooks.rooms.leaveAll('workers');
}

export function wrongUses(req: Request, app: WorkerApp): void {
  // @ts-expect-error: a room name is a string
  void sails.sockets.leave(req, 42);
  // @ts-expect-error: no such method on sails.hooks.rooms
  void sails.hooks.rooms.leav(req, 'greeters');
  // @ts-expect-error: not an adapter name
  sails.config.rooms.adapter = 'mongo';
  // @ts-expect-error: the project's own config keeps its types
  const port: string = sails.config.port;
  void port;
  // @ts-expect-error: the project's own models only
  void sails.models.dog;
  // @ts-expect-error: not an option of leaveAll
  void app.hooks.rooms.leaveAll('workers', { everything: true });
}
