/**
 * The partition protocol's model (docs/model/partitions.pml), checked with spin by
 * docs/model/check.sh's quick rows: the code holds in each bounded configuration, and each of
 * its guards removed (BUG_) is caught. `check.sh --full` adds the larger bounds. Needs spin and
 * gcc (.ci/run installs spin).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const CHECK = path.resolve(__dirname, '../../docs/model/check.sh');
const MODEL = path.resolve(__dirname, '../../docs/model/partitions.pml');

function run(command: string, args: string[]): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, output }));
  });
}

describe('the partition protocol model (spin)', function () {
  // Some 1.5 CPU-minutes of searches (docs/model/README.md).
  this.timeout(10 * 60 * 1000);

  it('finds no error in the code and a counterexample for every guard removed', async () => {
    for (const tool of ['spin', 'gcc']) {
      const probe = spawnSync(tool, [tool === 'spin' ? '-V' : '--version'], { encoding: 'utf8' });
      assert.ok(!probe.error && probe.status === 0,
        `${tool} is not installed, so the model of docs/partitions.md cannot be checked: apt-get install -y ${tool} (.ci/run does)`);
    }
    const { status, output } = await run('bash', [CHECK]);
    assert.equal(status, 0, `docs/model/check.sh found a configuration that does not behave as expected:\n${output}`);
    // Every guard the model can remove has its row, so a new switch cannot go unchecked.
    const switches = new Set(readFileSync(MODEL, 'utf8').match(/\bBUG_[A-Z_]+[A-Z]\b/g));
    assert.ok(switches.size >= 10, `found only ${switches.size} BUG_ switches in ${MODEL}`);
    for (const row of ['design-join', 'design-restart', 'design-deaf-timeout', ...switches]) {
      assert.match(output, new RegExp(`^${row}\\s`, 'm'), `check.sh ran no ${row} row:\n${output}`);
    }
  });
});
