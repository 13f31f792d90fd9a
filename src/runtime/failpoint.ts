/**
 * Named moments of multi-step operations where the fault tests strike, so a test proves that its
 * kill or engine stop landed mid-operation rather than hoping a timer did. Inert unless
 * BOSH_CPI_FAILPOINT names the moment (the Director and the bosh CLI never set it):
 *
 *   BOSH_CPI_FAILPOINT=<name>              the process SIGKILLs itself there (a crash)
 *   BOSH_CPI_FAILPOINT=<name>:pause:<file> it writes <file>.reached and waits for <file>.release;
 *                                          a release holding a time (ms since the epoch) lets
 *                                          paused calls go on together at that moment (races)
 */
import * as fs from 'node:fs';

export async function failpoint(name: string): Promise<void> {
  const spec = process.env['BOSH_CPI_FAILPOINT'];
  if (!spec || (spec !== name && !spec.startsWith(`${name}:`))) return;
  const [, action, file] = spec.split(':');
  if (action !== 'pause' || !file) {
    process.kill(process.pid, 'SIGKILL');
    await new Promise(() => undefined); // SIGKILL is delivered before anything else runs
  }
  fs.writeFileSync(`${file}.reached`, String(process.pid));
  while (!fs.existsSync(`${file}.release`)) await new Promise((r) => setTimeout(r, 5));
  const at = Number(fs.readFileSync(`${file}.release`, 'utf8')) || 0;
  while (Date.now() < at) await new Promise((r) => setImmediate(r));
}
