// A project's own type of the `sails` global, with this hook's parts added to it.
import type { SailsWithRooms } from 'sails-hook-rooms/augment';

export interface MyApp {
  log: { info(...args: unknown[]): void; error(...args: unknown[]): void };
  config: { port: number; custom: { greeting: string } };
  models: { pet: { count(): Promise<number> } };
  hooks: { orm: { teardown(done: () => void): void } };
}

declare global {
  var sails: MyApp & SailsWithRooms;
}
