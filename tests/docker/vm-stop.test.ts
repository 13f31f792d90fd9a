/**
 * How delete_vm stops a VM (src/docker/vm/stop.ts), with stop_timeout_seconds at its default of
 * 10 s: a VM whose jobs are stopped (what the Director and bosh create-env leave) is removed at
 * once, whatever its PID 1 does with SIGTERM; a VM with a job still running is stopped with the
 * grace period first, and under Docker's init SIGTERM reaches a start command that ignores it as
 * PID 1. The test stemcells' start command logs what it gets to a directory of the host.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execIn, exists, inspect } from '../helpers/docker';
import { Lab, NOTHING_LEFT, SUBNETS } from '../helpers/lab';

/** A runit-style start command: logs a SIGTERM, stopping "its job" first, when `trap` is set. */
const init = (trap: boolean) => `#!/bin/sh
${trap ? `trap 'echo init-term >> /out/log; [ -n "$job" ] && kill -TERM "$job" && wait "$job"; exit 0' TERM` : '# no trap: as PID 1 it would ignore SIGTERM'}
if [ -e /out/start-job ]; then sh /var/vcap/jobs/demo/bin/run & job=$!; fi
while :; do sleep 1 & wait $!; done
`;
/** A BOSH job's process (run from /var/vcap/jobs): logs its SIGTERM and exits. */
const JOB = `trap 'echo job-term >> /out/log; exit 0' TERM
echo job-started >> /out/log
while :; do sleep 1 & wait $!; done
`;

describe('delete_vm stopping a VM', () => {
  const lab = new Lab('vm-stop', SUBNETS.stop, { stop_timeout_seconds: 10 });
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'vm-stop-out-'));
  let handles: string;
  let ignores: string;
  let host = 10;

  beforeAll(async () => {
    const stemcell = (trap: boolean) => ({ init: 'runit' as const, name: `bosh-busybox-${trap ? 'handles' : 'ignores'}-term`, files: { 'var/vcap/jobs/demo/bin/run': JOB }, executables: { 'usr/sbin/runsvdir-start': init(trap) } });
    handles = await lab.stemcellWith(stemcell(true));
    ignores = await lab.stemcellWith(stemcell(false));
  });
  afterAll(async () => {
    expect(await lab.finish()).toEqual(NOTHING_LEFT);
    fs.rmSync(out, { recursive: true, force: true });
  });

  /** A VM of `stemcell` whose /out is a fresh host directory; its job runs when `job`. */
  async function vm(stemcell: string, job: boolean): Promise<{ cid: string; log: string }> {
    const dir = fs.mkdtempSync(path.join(out, 'vm-'));
    if (job) fs.writeFileSync(path.join(dir, 'start-job'), '');
    const { cid } = await lab.createVm(stemcell, { default: lab.manual(1, host++) }, { Binds: [`${dir}:/out`] });
    const log = path.join(dir, 'log');
    if (job) for (let i = 0; i < 100 && !fs.existsSync(log); i++) await new Promise((r) => setTimeout(r, 50));
    return { cid, log };
  }

  async function timedDelete(cid: string): Promise<number> {
    const t = Date.now();
    await lab.ok('delete_vm', [cid]);
    const ms = Date.now() - t;
    expect(await exists('container', cid)).toBe(false);
    return ms;
  }

  const logOf = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '');

  it("runs a runit start under Docker's init, which is PID 1", async () => {
    const v = await vm(handles, false);
    const c = await inspect('container', v.cid);
    expect(c.HostConfig.Init).toBe(true);
    expect(await execIn(c.Id, 'tr "\\0" " " < /proc/1/cmdline')).toMatch(/^\/sbin\/docker-init -- /);
    await timedDelete(v.cid);
  });

  it.each([
    ['handles', () => handles],
    ['ignores', () => ignores],
  ])('removes a VM without job processes at once (its start command %s SIGTERM)', async (_how, stemcell) => {
    const v = await vm(stemcell(), false);
    const ms = await timedDelete(v.cid);
    expect(ms).toBeLessThan(3000); // the grace period is 10 s
    expect(logOf(v.log)).toBe(''); // killed: no SIGTERM was sent first
  });

  it('gives a VM whose job still runs its SIGTERM and the grace period: the job stops cleanly', async () => {
    const v = await vm(handles, true);
    expect(logOf(v.log)).toBe('job-started\n');
    await timedDelete(v.cid);
    expect(logOf(v.log)).toBe('job-started\ninit-term\njob-term\n');
  });

  it('stops a VM with a running job quickly even when its start command ignores SIGTERM as PID 1 would', async () => {
    const v = await vm(ignores, true);
    expect(logOf(v.log)).toBe('job-started\n');
    const ms = await timedDelete(v.cid);
    expect(ms).toBeLessThan(5000);
  });
});
