/**
 * Mocha's root hooks (loaded by .mocharc.json): the log of test/support/logs.ts in one window per
 * test, printed after a test that fails or a hook that fails, so that a passing run prints only
 * mocha's report.
 */
import { endWindow, startCapturing } from './logs';

/** The hooks of a suite are private fields of mocha's Suite. */
interface SuiteHooks { _beforeAll: Mocha.Hook[]; _beforeEach: Mocha.Hook[]; _afterEach: Mocha.Hook[]; _afterAll: Mocha.Hook[] }
const reportedHooks = new WeakSet<Mocha.Hook>();

function rootOf(runnable: Mocha.Runnable): Mocha.Suite {
  let suite = runnable.parent!;
  while (suite.parent) suite = suite.parent;
  return suite;
}

function newlyFailedHook(suite: Mocha.Suite): Mocha.Hook | undefined {
  const hooks = suite as unknown as SuiteHooks;
  for (const hook of [...hooks._beforeAll, ...hooks._beforeEach, ...hooks._afterEach, ...hooks._afterAll]) {
    if (hook.state === 'failed' && !reportedHooks.has(hook)) return hook;
  }
  for (const child of suite.suites) {
    const hook = newlyFailedHook(child);
    if (hook) return hook;
  }
  return undefined;
}

/** Mocha runs no test hook after a failed `before` hook: the lines up to it are printed here. */
function reportFailedHook(root: Mocha.Suite): void {
  const hook = newlyFailedHook(root);
  if (!hook) return;
  reportedHooks.add(hook);
  endWindow(`until ${hook.fullTitle()} failed`, true);
}

export const mochaHooks = {
  beforeAll() {
    startCapturing();
  },
  beforeEach(this: Mocha.Context) {
    reportFailedHook(rootOf(this.currentTest!));
  },
  afterEach(this: Mocha.Context) {
    const test = this.currentTest!;
    reportFailedHook(rootOf(test));
    endWindow(`during "${test.fullTitle()}"`, test.state === 'failed');
  },
  afterAll(this: Mocha.Context) {
    reportFailedHook(this.test!.parent!);
    endWindow('in the last hooks', false);
  },
};
