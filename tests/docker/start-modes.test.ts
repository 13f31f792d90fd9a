/** How VMs start: systemd, runit or the image's own command, detected or forced. */
import { docker, inspect, labelled, TEST_LABEL } from '../helpers/docker';
import { Lab, NOTHING_LEFT, SUBNETS, stemcellFiles } from '../helpers/lab';

const lab = new Lab('modes', SUBNETS.modes);
const systemdLab = new Lab('modes-systemd', SUBNETS.modes, { start_containers_with_systemd: true });
let runit: string;
let systemd: string;
let none: string;
beforeAll(async () => {
  [runit, systemd, none] = await Promise.all([lab.stemcell('runit'), lab.stemcell('systemd'), lab.stemcell('none')]);
});
afterAll(async () => {
  expect(await lab.finish()).toEqual(NOTHING_LEFT);
  expect(await systemdLab.finish()).toEqual(NOTHING_LEFT);
});

async function engineCgroupVersion(): Promise<string> {
  return docker('info', '--format', '{{.CgroupVersion}}');
}

describe('start modes', () => {
  it('boots a systemd stemcell with systemd as PID 1: host cgroupns, SIGRTMIN+3, tmpfs /run', async () => {
    const vm = await lab.createVm(systemd, { default: lab.manual(1, 10) });
    const c = await inspect('container', vm.cid);
    expect(c.Config.Labels['bosh.cpi.init']).toBe('systemd');
    expect(c.Config.Cmd).toEqual(['/sbin/init']);
    expect(c.Config.Entrypoint.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(c.Config.StopSignal).toBe('SIGRTMIN+3');
    expect(c.Config.Env).toContain('container=docker');
    expect(c.HostConfig.CgroupnsMode).toBe('host');
    expect(Object.keys(c.HostConfig.Tmpfs).sort()).toEqual(['/run', '/run/lock']);
    const cgroupBind = (c.HostConfig.Mounts as Array<{ Target: string }>).some((m) => m.Target === '/sys/fs/cgroup');
    expect(cgroupBind).toBe((await engineCgroupVersion()) === '2');
    // PID 1 is what /sbin/init points to, and it is running.
    expect(await docker('exec', vm.cid, 'cat', '/proc/1/cmdline')).toContain('/sbin/init');
    expect(c.State.Running).toBe(true);
    await lab.ok('delete_vm', [vm.cid]);
  });

  it('boots a runit stemcell through runsvdir-start with a clean environment', async () => {
    const vm = await lab.createVm(runit, { default: lab.manual(2, 20) });
    const c = await inspect('container', vm.cid);
    expect(c.Config.Labels['bosh.cpi.init']).toBe('runit');
    expect(c.Config.Cmd).toEqual(['/usr/sbin/runsvdir-start']);
    // PID 1 is Docker's init (it passes SIGTERM on); its child, the start command, runsvdir-start.
    expect(await docker('exec', vm.cid, 'cat', '/proc/1/cmdline')).toMatch(/^\/sbin\/docker-init\0/);
    const child = "$(awk '$4 == 1 { print $1 }' /proc/[0-9]*/stat | head -1)";
    expect(await docker('exec', vm.cid, 'sh', '-c', `tr "\\0" " " < /proc/${child}/cmdline`)).toBe('/bin/sh /usr/sbin/runsvdir-start');
    expect(await docker('exec', vm.cid, 'sh', '-c', `tr "\\0" "\\n" < /proc/${child}/environ | sort`)).toBe('PATH=/usr/sbin:/usr/bin:/sbin:/bin');
    await lab.ok('delete_vm', [vm.cid]);
  });

  it('lets cloud_properties force a mode the image has; the config\'s switch yields to detection', async () => {
    const both = await lab.stemcell('both');
    const forced = await lab.createVm(both, { default: lab.manual(3, 30) }, { force_start_with_systemd: true });
    const fc = await inspect('container', forced.cid);
    expect(fc.Config.Labels['bosh.cpi.init']).toBe('systemd');
    expect(await docker('exec', forced.cid, 'cat', '/proc/1/cmdline')).toContain('/sbin/init');
    await lab.ok('delete_vm', [forced.cid]);

    // start_containers_with_systemd: true does not force systemd on a stemcell detected as runit.
    const byConfig = await systemdLab.call('create_vm', ['agent-cfg', await systemdLab.stemcell('both'), {}, { default: lab.manual(3, 31) }, [], {}]);
    expect(byConfig.response.error).toBeNull();
    const cfgCid = (byConfig.response.result as [string])[0];
    expect((await inspect('container', cfgCid)).Config.Labels['bosh.cpi.init']).toBe('runit');
    expect(byConfig.response.log).toContain('start_containers_with_systemd is set, but stemcell');
    const back = await systemdLab.createVm(await systemdLab.stemcell('runit'), { default: lab.manual(3, 32) }, { force_start_without_systemd: true });
    expect((await inspect('container', back.cid)).Config.Labels['bosh.cpi.init']).toBe('runit');
    await systemdLab.ok('delete_vm', [cfgCid]);
    await systemdLab.ok('delete_vm', [back.cid]);
  });

  it('refuses, before creating anything, a forced start the image cannot satisfy', async () => {
    const before = await labelled(lab.runId);
    const run = await lab.call('create_vm', ['agent-forced', runit, { force_start_with_systemd: true }, { default: lab.manual(3, 33) }, [], {}]);
    expect(run.response.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
    expect(run.response.error?.message).toBe(`cloud_properties.force_start_with_systemd: stemcell ${runit} cannot start with systemd: it has runit (/usr/sbin/runsvdir-start)`);
    const after = await labelled(lab.runId);
    expect({ ...after, images: after.images.sort() }).toEqual({ ...before, images: before.images.sort() });
    expect(lab.records()).toEqual({ vms: [], creating: [] });
  });

  it('refuses a stemcell that cannot boot', async () => {
    const run = await lab.call('create_vm', ['agent-x', none, {}, { default: lab.manual(4, 40) }, [], {}]);
    expect(run.response.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
    expect(run.response.error?.message).toBe(`stemcell ${none} has neither an init (/sbin/init with systemd, or runsvdir-start) nor a command of its own; it cannot boot a VM`);
    const noRunit = await lab.call('create_vm', ['agent-x', systemd, { force_start_without_systemd: true }, { default: lab.manual(4, 41) }, [], {}]);
    expect(noRunit.response.error?.message).toContain('cannot start without systemd');
  });

  describe('images the CPI did not import (light stemcells)', () => {
    const unverified = new Lab('modes-light', SUBNETS.modes, { light_stemcell: { require_image_verification: false } });
    afterAll(async () => expect(await unverified.finish()).toEqual(NOTHING_LEFT));

    it('runs an image\'s own command', async () => {
      const tag = `bosh-light-cmd:${unverified.runId}`;
      await docker('import', '--change', `LABEL ${TEST_LABEL}=${unverified.runId}`, '--change', 'CMD ["/bin/sh","-c","trap \\"exit 0\\" TERM; while :; do sleep 1; done"]', (await stemcellFiles('none')).imagePath, tag);
      const cid = await unverified.ok<string>('create_stemcell', ['/unused', { image_reference: tag }]);
      const vm = await unverified.createVm(cid, { default: lab.manual(5, 50) });
      const c = await inspect('container', vm.cid);
      expect(c.Config.Labels['bosh.cpi.init']).toBe('command');
      expect(c.Config.Cmd).toEqual(['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done']);
      expect(c.State.Running).toBe(true);
      await unverified.ok('delete_vm', [vm.cid]);
      await docker('rmi', tag);
    });

    it('finds runsvdir-start in an unlabelled image by probing it', async () => {
      const tag = `bosh-light-runit:${unverified.runId}`;
      await docker('import', '--change', `LABEL ${TEST_LABEL}=${unverified.runId}`, (await stemcellFiles('runit')).imagePath, tag);
      const cid = await unverified.ok<string>('create_stemcell', ['/unused', { image_reference: tag }]);
      const vm = await unverified.createVm(cid, { default: lab.manual(6, 60) });
      expect((await inspect('container', vm.cid)).Config.Labels['bosh.cpi.init']).toBe('runit');
      await unverified.ok('delete_vm', [vm.cid]);
      await docker('rmi', tag);
    });
  });
});
