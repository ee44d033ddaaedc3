// config/rooms.ts of a TypeScript Sails app.
import type { RoomsConfig } from 'sails-hook-rooms';

export const rooms: RoomsConfig = {
  adapter: 'redis',
  url: process.env.REDIS_URL,
  confirm: 'cluster',
  timeout: 3000,
};

// @ts-expect-error: not an adapter name
export const wrongAdapter: RoomsConfig = { adapter: 'mongo' };
// @ts-expect-error: timeout is a number of milliseconds
export const wrongTimeout: RoomsConfig = { timeout: '5s' };
