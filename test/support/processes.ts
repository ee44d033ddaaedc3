/** Child processes for tests: started, awaited on a line of output, and always stopped. */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';

export interface Child {
  process: ChildProcess;
  /** Everything the child printed so far (stdout and stderr). */
  output(): string;
  /** Resolves when the output matches `pattern`; rejects if the child exits first or after `timeoutMs`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Stops the child (SIGTERM, then SIGKILL) and resolves once it has exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function startChild(command: string, args: string[], options: SpawnOptions = {}): Child {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const check of waiters) check();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
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
export async function run(command: string, args: string[], options: SpawnOptions = {}): Promise<string> {
  const child = startChild(command, args, options);
  const [code] = await once(child.process, 'exit');
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${code}:\n${child.output()}`);
  return child.output();
}
