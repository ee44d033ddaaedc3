/**
 * What a Redis ACL user needs for the hook (README, "Redis rights"), and what to tell a user whose
 * Redis refused a step of the lift (NOPERM). Redis 7 users start with no channel rights
 * (`acl-pubsub-default resetchannels`), a common surprise.
 */
import { RoomsError } from '../../errors';

/** Commands the hook and socket.io's Redis adapter send (the Lua scripts' own commands included). */
const COMMANDS = {
  both: ['ping', 'eval', 'get', 'set', 'del', 'hget', 'hset', 'hdel', 'hgetall', 'rpush', 'lrange', 'time'],
  redis: ['publish', 'subscribe', 'unsubscribe', 'psubscribe', 'punsubscribe', 'pubsub|numsub'],
  sharded: ['spublish', 'ssubscribe', 'sunsubscribe', 'pubsub|shardnumsub'],
};

/** The channel rules: Redis compares a PSUBSCRIBE pattern with them literally, so they are the adapter's own pattern. */
function channelRights(key: string, sharded: boolean): string[] {
  // The hook's channels; socket.io's adapter: broadcasts, and (classic adapter) its requests and responses.
  return [`&{${key}-rooms}#/#*`, `&${key}#/#*`, ...(sharded ? [] : [`&${key}-request#/#*`, `&${key}-response#/#*`])];
}

/** The ACL rules a user needs for `key` and the adapter, in `ACL SETUSER` syntax (no user name, no password). */
export function requiredRights(key: string, sharded: boolean): string[] {
  const commands = [...COMMANDS.both, ...(sharded ? COMMANDS.sharded : COMMANDS.redis)];
  return [`~{${key}-rooms}:*`, ...channelRights(key, sharded), ...commands.map((command) => `+${command}`)];
}

/** The error a lift fails with when Redis refused `step` (e.g. "subscribe to its channels"). */
export function liftRefused(step: string, err: unknown, key: string, sharded: boolean): RoomsError {
  const message = err instanceof Error ? err.message : String(err);
  const rights = requiredRights(key, sharded).join(' ');
  if (/NOPERM/.test(message)) {
    const command = /'([^']+)' command/.exec(message)?.[1];
    const missing = command ? `the command ${command} (+${command})`
      : /channel/i.test(message) ? `its channels (Redis 7 users have none by default: grant ${channelRights(key, sharded).join(' ')}, or &*)`
        : /key/i.test(message) ? `its keys (~{${key}-rooms}:*)`
          : 'a right';
    return new RoomsError('E_UNAVAILABLE',
      `sails-hook-rooms could not ${step}: the Redis user lacks ${missing} (Redis said: ${message}). `
        + `Give the user these rights: ACL SETUSER <user> ${rights} (README, "Redis rights").`, { cause: err });
  }
  return new RoomsError('E_UNAVAILABLE', `sails-hook-rooms could not ${step}: ${message}`, { cause: err });
}
