import { parseVmProperties } from '../../../src/docker/vm/cloud-properties';

function failure(cp: Record<string, unknown>): { boshType: string; message: string } {
  try {
    parseVmProperties(cp);
  } catch (e) {
    return e as { boshType: string; message: string };
  }
  throw new Error('expected a failure');
}

describe('VM cloud_properties', () => {
  it('reads the friendly keys', () => {
    const p = parseVmProperties({ cpus: 1.5, memory: 512, ephemeral_disk: 2048, privileged: false, ports: ['6868/tcp'] });
    expect(p).toMatchObject({ cpus: 1.5, memoryMiB: 512, ephemeralDiskMiB: 2048, privileged: false, hostConfig: {}, warnings: [] });
    expect(p.ports).toHaveLength(1);
  });

  it('takes any other spelling of a Docker key as Docker\'s, in Docker\'s units (the Go CPI matched case-insensitively)', () => {
    const p = parseVmProperties({ Memory: 1073741824, CPUShares: 10, nanocpus: 500000000, PIDSLIMIT: 100, CapAdd: ['NET_ADMIN'], SecurityOpt: ['seccomp=unconfined'] });
    expect(p.memoryMiB).toBeUndefined();
    expect(p.hostConfig).toEqual({ Memory: 1073741824, CpuShares: 10, NanoCpus: 500000000, PidsLimit: 100, CapAdd: ['NET_ADMIN'], SecurityOpt: ['seccomp=unconfined'] });
  });

  it('reads the force_* switches', () => {
    expect(parseVmProperties({ force_start_with_systemd: true }).systemd).toBe(true);
    expect(parseVmProperties({ force_start_without_systemd: true }).systemd).toBe(false);
    expect(parseVmProperties({ force_lxcfs_enabled: true }).lxcfs).toBe(true);
    expect(parseVmProperties({ force_lxcfs_disabled: true }).lxcfs).toBe(false);
  });

  it('warns about keys it does not use, without failing', () => {
    expect(parseVmProperties({ instance_type: 'm1.small' }).warnings).toEqual(['cloud_properties.instance_type is not used by the Docker CPI and was ignored']);
  });

  it.each([
    [{ memory: 512, Memory: 1 }, 'give either memory (MiB) or Memory (bytes), not both'],
    [{ cpus: 1, NanoCpus: 1 }, 'give either cpus or NanoCpus/CpuQuota, not both'],
    [{ cpus: 0 }, 'cpus: must be greater than 0'],
    [{ memory: '1G' }, 'memory: must be a number, got a string'],
    [{ CapAdd: 'ALL' }, 'CapAdd: must be an array, got a string'],
    [{ Ulimits: [1] }, 'Ulimits[0]: must be an object, got an integer'],
    [{ NetworkMode: 'host' }, 'NetworkMode is managed by the CPI'],
    [{ force_start_with_systemd: true, force_start_without_systemd: true }, 'are both set'],
    [{ ports: ['99999'] }, 'ports: container port 99999 is outside 1-65535'],
    [{ Memory: 1, memorY: 2 }, 'given twice'],
  ])('refuses %j', (cp, msg) => {
    const e = failure(cp);
    expect(e.boshType).toBe('Bosh::Clouds::VMCreationFailed');
    expect(e.message).toContain(msg);
  });
});
