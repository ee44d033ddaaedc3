/**
 * What the code under test logs, kept out of the test report: under mocha, the Sails apps lifted
 * in this process and the child processes record their lines here instead of printing them. A
 * test reads what was logged with `logged()`; test/support/root-hooks.ts prints the lines of a
 * test that fails, and error lines no test expected. ROOMS_TEST_LOGS=1 prints every line as it comes.
 */
export type LogLevel = 'crit' | 'error' | 'warn' | 'info' | 'debug' | 'verbose' | 'silly' | 'blank';

export interface LogEntry {
  /** Who logged it: `sails:<port>` for an app in this process, the name of a child process. */
  source: string;
  /** A Sails log level, or 'output' for a child's line that names none. */
  level: LogLevel | 'output';
  message: string;
}

export interface LogMatch {
  source?: string | RegExp;
  level?: LogEntry['level'] | Array<LogEntry['level']>;
  /** A pattern, or a string the message contains. */
  message?: RegExp | string;
}

const LIVE = process.env.ROOMS_TEST_LOGS === '1';
/** A window keeps at least its last this many lines (a test that runs a load for long logs plenty). */
const MAX_ENTRIES = 10_000;
/** The last lines a failure prints: those just before it say most. */
const MAX_PRINTED = 300;
const ERROR_LEVELS: ReadonlySet<LogEntry['level']> = new Set(['crit', 'error']);
/** Sails' line for a lift that failed: the lift's own error reaches the test, which expects it or fails. */
const FAILED_LIFT = /^A hook \(`[\w-]+`\) failed to load!$/;

/** Since the previous test ended. */
let entries: LogEntry[] = [];
let dropped = 0;
/** Counts the windows, so that a child's line continues an entry of the current one only. */
let windowNumber = 0;
/** The error lines a test read through `logged()`: they were expected. */
const expected = new WeakSet<LogEntry>();
/** Set by the root hooks: outside mocha (the bench, the soak) Sails logs to the console as usual. */
let capturing = false;

export function startCapturing(): void {
  capturing = true;
}

export function isCapturing(): boolean {
  return capturing;
}

export function record(source: string, level: LogEntry['level'], message: string): void {
  const entry = { source, level, message };
  entries.push(entry);
  if (entries.length > 2 * MAX_ENTRIES) {
    dropped += entries.length - MAX_ENTRIES;
    entries = entries.slice(-MAX_ENTRIES);
  }
  if (LIVE) process.stderr.write(`${format(entry)}\n`);
}

/**
 * What was logged since the previous test ended (this test, its hooks, and the `before` hooks
 * run for it) that matches; error lines returned count as expected, and are not printed.
 */
export function logged(match: LogMatch = {}): LogEntry[] {
  const levels = match.level === undefined ? undefined : [match.level].flat();
  const found = entries.filter((entry) => (levels === undefined || levels.includes(entry.level))
    && (match.source === undefined || (typeof match.source === 'string' ? entry.source === match.source : match.source.test(entry.source)))
    && (match.message === undefined || (typeof match.message === 'string' ? entry.message.includes(match.message) : match.message.test(entry.message))));
  for (const entry of found) expected.add(entry);
  return found;
}

/** The messages `logged(match)` finds. */
export function loggedMessages(match: LogMatch = {}): string[] {
  return logged(match).map((entry) => entry.message);
}

/**
 * `sails.config.log` for a Sails app lifted in this process: every line down to `level`
 * ('verbose' unless the test's own `log` says otherwise) goes to `record()`.
 */
export function sailsLogConfig(source: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const to = (level: LogLevel) => (message: unknown) => record(source, level, String(message));
  const custom = {
    log: to('debug'), crit: to('crit'), error: to('error'), warn: to('warn'), info: to('info'),
    debug: to('debug'), verbose: to('verbose'), silly: to('silly'), blank: to('blank'),
  };
  // No prefixes: the level is recorded beside the message; no ship: it is the same at every lift.
  return { level: 'verbose', prefixes: {}, noShip: true, ...overrides, custom };
}

/** The Sails level prefixes of a child's lines (captains-log's defaults; 'verbo' is verbose). */
const CHILD_PREFIX = /^\s*(crit|error|warn|info|verbo|debug|silly): /;

/**
 * Records a child's output line by line under `source`: a line that starts with a Sails level
 * prefix is an entry at that level, an indented line (a stack trace, an error's properties)
 * continues the entry before it, any other line is an entry of level 'output'.
 */
export function childOutputRecorder(source: string): (chunk: string) => void {
  let partial = '';
  let last: { entry: LogEntry; windowNumber: number } | undefined;
  return (chunk) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      const prefix = CHILD_PREFIX.exec(line);
      if (!prefix && last?.windowNumber === windowNumber && /^(\s|[}\]])/.test(line)) {
        last.entry.message += `\n${line}`;
        if (LIVE) process.stderr.write(`    ${line}\n`);
        continue;
      }
      const level = prefix ? (prefix[1] === 'verbo' ? 'verbose' : prefix[1] as LogLevel) : 'output';
      record(source, level, prefix ? line.slice(prefix[0].length) : line);
      last = { entry: entries[entries.length - 1]!, windowNumber };
    }
  };
}

function format(entry: LogEntry): string {
  const [first, ...rest] = entry.message.split('\n');
  return [`    [${entry.source} ${entry.level}] ${first}`, ...rest.map((line) => `      ${line}`)].join('\n');
}

function print(heading: string, shown: readonly LogEntry[], earlier: number): void {
  const lines = shown.slice(-MAX_PRINTED).map(format);
  const left = earlier + Math.max(0, shown.length - MAX_PRINTED);
  if (left > 0) lines.unshift(`    (${left} earlier lines not shown: ROOMS_TEST_LOGS=1 prints every line)`);
  process.stdout.write(`\n    --- ${heading} ---\n${lines.join('\n')}\n    ---\n\n`);
}

/**
 * Starts a new window of lines. The old one's (those `during` names) are printed if it `failed`,
 * else only its errors nobody read; unless every line was printed as it came.
 */
export function endWindow(during: string, failed: boolean): void {
  if (!LIVE && failed && entries.length > 0) print(`logged ${during}`, entries, dropped);
  if (!LIVE && !failed) {
    const unexpected = entries.filter((entry) => ERROR_LEVELS.has(entry.level) && !expected.has(entry) && !FAILED_LIFT.test(entry.message));
    if (unexpected.length > 0) print(`errors logged ${during}, not read with logged()`, unexpected, 0);
  }
  entries = [];
  dropped = 0;
  windowNumber += 1;
}
