/** The error codes of the public contract (see README, "Errors"). */
export type RoomsErrorCode =
  | 'E_INVALID_SOCKET'
  | 'E_INVALID_ROOM'
  | 'E_INVALID_CALLBACK'
  | 'E_INVALID_OPTIONS'
  | 'E_INVALID_CONFIG'
  | 'E_SOCKETS_HOOK_MISSING'
  | 'E_TIMEOUT'
  | 'E_UNAVAILABLE';

export class RoomsError extends Error {
  readonly code: RoomsErrorCode;

  constructor(code: RoomsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    // As Node prints its own errors: the code in the stack's first line, which V8 writes on
    // first read, from the name at that moment.
    this.name = `RoomsError [${code}]`;
    void this.stack;
    this.name = 'RoomsError';
  }

  override toString(): string {
    return `${this.name} [${this.code}]: ${this.message}`;
  }
}

/** A short, safe rendering of a value a caller passed, for error messages. */
export function describeValue(value: unknown): string {
  try {
    return describe(value);
  } catch {
    // A revoked Proxy, say: even Array.isArray() throws on it.
    return 'a value that cannot be inspected';
  }
}

/**
 * What reading a value a caller passed threw, as the error to report: a usage error as it is;
 * anything else (a getter, a Proxy trap) as the documented `code`, not a stray exception. Called
 * only once something threw: the parsers run on every leave and join.
 */
export function unreadable(err: unknown, code: RoomsErrorCode, what: string): RoomsError {
  if (err instanceof RoomsError) return err;
  return new RoomsError(code, `${what} threw when read (${err instanceof Error ? err.message : String(err)}): pass plain values.`, { cause: err });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') {
    const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
    return `the string ${JSON.stringify(shown)} (length ${value.length})`;
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return `the ${typeof value} ${String(value)}`;
  }
  if (typeof value === 'symbol') return 'a symbol';
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return 'an object';
}
