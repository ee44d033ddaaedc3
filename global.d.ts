// Opt-in global typing of the Sails app: `import 'sails-hook-rooms/global'` once, or list
// "sails-hook-rooms/global" in tsconfig's "types".
import type { SailsWithRooms } from './dist/types';

declare global {
  /** The Sails app (`sails` global), as far as sails-hook-rooms types it. */
  var sails: SailsWithRooms;
}

export {};
