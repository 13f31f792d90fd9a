import { detectInit } from '../../../src/docker/stemcell/rootfs-scan';
import { chooseStartMode, startConfig } from '../../../src/docker/vm/start-mode';
import { readableName } from '../../../src/docker/vm/lifecycle';

describe('init detection', () => {
  it('prefers runit (jammy and older), then systemd (noble), and records every init it found', () => {
    expect(detectInit(new Set(['usr/sbin/runsvdir-start', 'lib/systemd/systemd']), new Map([['sbin/init', '/lib/systemd/systemd']]))).toEqual({
      mode: 'runit',
      path: '/usr/sbin/runsvdir-start',
      available: { runit: '/usr/sbin/runsvdir-start', systemd: '/sbin/init' },
    });
    expect(detectInit(new Set(['lib/systemd/systemd']), new Map([['sbin/init', '../lib/systemd/systemd']]))).toEqual({ mode: 'systemd', path: '/sbin/init', available: { systemd: '/sbin/init' } });
    expect(detectInit(new Set(['bin/busybox']), new Map([['sbin/init', '../bin/busybox']]))).toEqual({ mode: 'none', available: {} });
  });

  it('follows merged-/usr symlinks', () => {
    const links = new Map([['sbin', 'usr/sbin'], ['lib', 'usr/lib'], ['usr/sbin/init', '../lib/systemd/systemd']]);
    expect(detectInit(new Set(['usr/lib/systemd/systemd']), links)).toMatchObject({ mode: 'systemd', path: '/sbin/init' });
  });
});

describe('start mode', () => {
  const base = { imageHasCommand: false, configSystemd: undefined, forceSystemd: undefined, stemcell: 'sc' };
  it('follows the detected init unless forced', () => {
    expect(chooseStartMode({ ...base, detected: { mode: 'runit', path: '/usr/sbin/runsvdir-start' } })).toEqual({ mode: 'runit', program: '/usr/sbin/runsvdir-start' });
    expect(chooseStartMode({ ...base, detected: { mode: 'systemd', path: '/sbin/init' } })).toEqual({ mode: 'systemd', program: '/sbin/init' });
    expect(chooseStartMode({ ...base, detected: { mode: 'runit' }, configSystemd: true, forceSystemd: false })).toMatchObject({ mode: 'runit' });
    expect(chooseStartMode({ ...base, detected: { mode: 'none' }, imageHasCommand: true })).toEqual({ mode: 'command' });
    expect(() => chooseStartMode({ ...base, detected: { mode: 'none' } })).toThrow('has neither an init');
  });

  it('lets detection win over the config\'s start_containers_with_systemd, saying so', () => {
    const warnings: string[] = [];
    const both = { mode: 'runit' as const, path: '/usr/sbin/runsvdir-start', available: { runit: '/usr/sbin/runsvdir-start', systemd: '/sbin/init' } };
    expect(chooseStartMode({ ...base, detected: both, configSystemd: true, warnings })).toEqual({ mode: 'runit', program: '/usr/sbin/runsvdir-start' });
    expect(warnings).toEqual([expect.stringContaining('start_containers_with_systemd is set, but stemcell sc was detected as runit: starting it as detected')]);
    expect(chooseStartMode({ ...base, detected: { mode: 'systemd', path: '/sbin/init' }, configSystemd: true })).toEqual({ mode: 'systemd', program: '/sbin/init' });
  });

  it('honours a per-VM force the image can satisfy and refuses one it cannot, naming the option and what the image has', () => {
    const both = { mode: 'runit' as const, path: '/usr/sbin/runsvdir-start', available: { runit: '/usr/sbin/runsvdir-start', systemd: '/sbin/init' } };
    expect(chooseStartMode({ ...base, detected: both, forceSystemd: true })).toEqual({ mode: 'systemd', program: '/sbin/init' });
    const runitOnly = { mode: 'runit' as const, path: '/usr/sbin/runsvdir-start', available: { runit: '/usr/sbin/runsvdir-start' } };
    expect(() => chooseStartMode({ ...base, detected: runitOnly, forceSystemd: true })).toThrow(
      'cloud_properties.force_start_with_systemd: stemcell sc cannot start with systemd: it has runit (/usr/sbin/runsvdir-start)',
    );
    const systemdOnly = { mode: 'systemd' as const, path: '/sbin/init', available: { systemd: '/sbin/init' } };
    expect(() => chooseStartMode({ ...base, detected: systemdOnly, forceSystemd: false })).toThrow(
      'cloud_properties.force_start_without_systemd: stemcell sc cannot start without systemd: it has systemd (/sbin/init) and no command of its own',
    );
  });

  it('starts systemd with host cgroupns, a stop signal it honours and tmpfs /run; binds cgroupfs only on v2', () => {
    const v1 = startConfig({ mode: 'systemd', program: '/sbin/init' }, { dns: [], cgroupVersion: '1', mountCgroupfs: true });
    expect(v1.cgroupnsHost).toBe(true);
    expect(v1.body.StopSignal).toBe('SIGRTMIN+3');
    expect(Object.keys(v1.tmpfs)).toEqual(['/run', '/run/lock']);
    expect(v1.mounts).toEqual([]);
    const v2 = startConfig({ mode: 'systemd', program: '/sbin/init' }, { dns: [], cgroupVersion: '2', mountCgroupfs: true });
    expect(v2.mounts).toEqual([{ Type: 'bind', Source: '/sys/fs/cgroup', Target: '/sys/fs/cgroup', ReadOnly: false }]);
    expect(startConfig({ mode: 'systemd', program: '/sbin/init' }, { dns: [], cgroupVersion: '2', mountCgroupfs: false }).mounts).toEqual([]);
  });

  it('passes values to PID 1 as parameters and environment, never inside the script', () => {
    const c = startConfig({ mode: 'runit', program: '/usr/sbin/runsvdir-start' }, { dns: ['1.1.1.1', '8.8.8.8'], cgroupVersion: '1', mountCgroupfs: true });
    expect(c.body.Cmd).toEqual(['/usr/sbin/runsvdir-start']);
    expect(c.body.Env).toContain('BOSH_CPI_DNS=1.1.1.1 8.8.8.8');
    expect(c.body.Entrypoint?.[2]).not.toContain('1.1.1.1');
  });
});

describe('readable container names', () => {
  it('names a VM after its deployment, instance group and index, keeping the CID', () => {
    expect(readableName('c-1', { deployment: 'cf', instance_group: 'diego cell', index: '0', job: 'x' })).toBe('cf_diego-cell_0_c-1');
    expect(readableName('c-1', { deployment: 'cf', compiling: 'golang' })).toBe('cf_compile-golang_c-1');
    expect(readableName('c-1', {})).toBeUndefined();
  });
});
