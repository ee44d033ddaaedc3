/** The fixture Sails app, lifted in this process. */
import type { Server } from 'socket.io';
import type { RoomsHookApi, RoomsSockets } from '../../lib/types';
import { isCapturing, sailsLogConfig } from './logs';

// The fixture is plain JS, as a Sails app is.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fixture = require('../../fixtures/app/app.js') as {
  liftFixture(config?: Record<string, unknown>): Promise<SailsTestApp>;
  lowerFixture(app: SailsTestApp): Promise<void>;
  urlOf(app: SailsTestApp): string;
  freePort(): Promise<number>;
  APP_PATH: string;
};

export interface SailsTestApp {
  sockets: RoomsSockets;
  io: Server;
  hooks: { rooms: RoomsHookApi; http: { server: import('http').Server; app: unknown } } & Record<string, any>;
  config: Record<string, any>;
  log: Record<'error' | 'warn' | 'info' | 'verbose' | 'debug' | 'silly', (...args: unknown[]) => void>;
  models: Record<string, any>;
  lower(cb: (err?: Error) => void): void;
}

export const { lowerFixture, urlOf, freePort, APP_PATH } = fixture;

/**
 * Lifts the fixture app (`config` over config/*.js). Under mocha its log is recorded by
 * test/support/logs.ts under `sails:<port>`, not printed; `config.log` may still set e.g. the level.
 */
export async function liftFixture(config: Record<string, unknown> = {}): Promise<SailsTestApp> {
  if (!isCapturing()) return fixture.liftFixture(config);
  const port = (config.port as number | undefined) ?? await freePort();
  const log = sailsLogConfig(`sails:${port}`, config.log as Record<string, unknown> | undefined);
  return fixture.liftFixture({ ...config, port, log });
}

/** Replaces `app.log[level]` for the duration of a test; returns the captured messages. */
export function captureLog(app: SailsTestApp, level: 'warn' | 'error'): { messages: string[]; restore(): void } {
  const original = app.log[level];
  const messages: string[] = [];
  app.log[level] = (...args: unknown[]) => {
    messages.push(args.map((arg) => (arg instanceof Error ? `${arg.message}` : String(arg))).join(' '));
  };
  return { messages, restore: () => { app.log[level] = original; } };
}
