/** Child processes for tests: started, awaited on a line of output, and always stopped. */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { childOutputRecorder } from './logs';

export interface Child {
  process: ChildProcess;
  /** Everything the child printed so far (stdout and stderr). */
  output(): string;
  /** Resolves when the output matches `pattern`; rejects if the child exits first or after `timeoutMs`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Stops the child (SIGTERM, then SIGKILL) and resolves once it has exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts `command`; its output is kept, not printed: test/support/logs.ts records it under
 * `options.name` (the command's name by default), for the test's log.
 */
export function startChild(command: string, args: string[], options: SpawnOptions & { name?: string } = {}): Child {
  const { name = path.basename(command), ...spawnOptions } = options;
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOptions });
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (recordLines: (chunk: string) => void) => (chunk: Buffer) => {
    const text = chunk.toString();
    output += text;
    recordLines(text);
    for (const check of waiters) check();
  };
  child.stdout?.on('data', onData(childOutputRecorder(name)));
  child.stderr?.on('data', onData(childOutputRecorder(name)));
  const exited = child.exitCode !== null ? Promise.resolve() : once(child, 'exit').then(() => undefined);

  return {
    process: child,
    output: () => output,
    waitForOutput(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`no output matching ${pattern} within ${timeoutMs} ms; output:\n${output}`)), timeoutMs);
        const onExit = () => finish(new Error(`child exited (code ${child.exitCode}) before printing ${pattern}; output:\n${output}`));
        function check() {
          const match = output.match(pattern);
          if (match) finish(undefined, match);
        }
        function finish(err?: Error, match?: RegExpMatchArray) {
          clearTimeout(timer);
          waiters.delete(check);
          child.off('exit', onExit);
          if (err) reject(err);
          else resolve(match!);
        }
        waiters.add(check);
        child.once('exit', onExit);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill(signal);
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** Runs a command to completion; rejects with its output if it fails. */
export async function run(command: string, args: string[], options: SpawnOptions & { name?: string } = {}): Promise<string> {
  const child = startChild(command, args, options);
  const [code] = await once(child.process, 'exit');
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${code}:\n${child.output()}`);
  return child.output();
}
