import type { Server } from 'socket.io';

export interface Logger {
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

/** The parts of a Sails 1.x app this hook relies on (Sails ships no types of its own). */
export interface SailsApp {
  config: Record<string, unknown> & { sockets?: { adapter?: unknown } };
  hooks: Record<string, unknown>;
  io: Server;
  sockets: Record<string, unknown>;
  log: Logger & { info(...args: unknown[]): void; verbose(...args: unknown[]): void };
  after(event: string, listener: () => void): void;
  emit(event: string, payload?: unknown): void;
  on(event: string, listener: () => void): void;
  removeListener(event: string, listener: () => void): void;
}

/** What Sails puts on `this` when it calls a hook's methods. */
export interface HookContext {
  identity: string;
  configKey: string;
}
