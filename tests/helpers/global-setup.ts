/** Builds dist/ once before the suites run, so tests drive the current sources through bin/cpi. */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { ROOT } from './cpi';

export default function globalSetup(): void {
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')], { stdio: 'inherit' });
}
