/**
 * bin/cpi's own failures (no node, no build) still answer one JSON response, whatever the
 * checkout's path holds.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CPI } from '../helpers/cpi';

// Physical: bin/cpi names its directory as `cd -P` resolves it.
const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'cpi-wrapper-')));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

it('reports a missing dist/cpi.js as JSON from a checkout whose path has a quote and a backslash', () => {
  const checkout = path.join(root, 'a "quoted\\ checkout');
  fs.mkdirSync(path.join(checkout, 'bin'), { recursive: true });
  fs.copyFileSync(CPI, path.join(checkout, 'bin', 'cpi'));
  fs.chmodSync(path.join(checkout, 'bin', 'cpi'), 0o755);
  const r = spawnSync(path.join(checkout, 'bin', 'cpi'), [], { input: '{"method":"info","arguments":[],"context":{}}', encoding: 'utf8' });
  expect(r.status).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual({
    result: null,
    error: { type: 'Bosh::Clouds::CloudError', message: `${checkout}/dist/cpi.js is missing: run npm run build`, ok_to_retry: false },
    log: '',
  });
});
