// Opt-in global typing of the Sails app: `import 'sails-hook-rooms/global'` once, or list
// "sails-hook-rooms/global" in tsconfig's "types". A project that declares `sails` itself (even as
// `any`) uses `sails-hook-rooms/augment` instead: a second `var sails` would not compile (TS2403).
// To type more of the app (models, config, other hooks), merge into the interfaces of
// `sails-hook-rooms/augment`, e.g. `declare module 'sails-hook-rooms/augment' { interface SailsModels { … } }`.
import type { Sails } from './augment';

declare global {
  /** The Sails app. */
  var sails: Sails;
}

export {};
