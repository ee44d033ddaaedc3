/**
 * The partition protocol's model (docs/model/partitions.pml), checked with spin by
 * docs/model/check.sh: the design holds in each bounded configuration, each guard of the design
 * removed (BUG_) is caught, and each change today's code still needs (code: rows) is shown by a
 * counterexample. Needs spin and gcc (.ci/run installs spin).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';

const CHECK = path.resolve(__dirname, '../../docs/model/check.sh');

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
  // Some 2 CPU-minutes of searches (docs/model/README.md).
  this.timeout(20 * 60 * 1000);

  it('finds no error in the design and a counterexample for every guard removed', async () => {
    for (const tool of ['spin', 'gcc']) {
      const probe = spawnSync(tool, [tool === 'spin' ? '-V' : '--version'], { encoding: 'utf8' });
      assert.ok(!probe.error && probe.status === 0,
        `${tool} is not installed, so the model of docs/partitions.md cannot be checked: apt-get install -y ${tool} (.ci/run does)`);
    }
    const { status, output } = await run('bash', [CHECK]);
    assert.equal(status, 0, `docs/model/check.sh found a configuration that does not behave as expected:\n${output}`);
    for (const row of ['design-leave', 'design-join', 'design-restart', 'BUG_NO_ECHO_WAIT', 'BUG_DROP_HELD', 'code:JOIN_NOT_COUNTED']) {
      assert.match(output, new RegExp(`^${row}\\s`, 'm'), `check.sh ran no ${row} row:\n${output}`);
    }
  });
});
