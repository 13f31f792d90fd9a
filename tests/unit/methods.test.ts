import type { CallContext, CpiBackend } from '../../src/cpi/backend';
import { METHOD_NAMES, METHODS } from '../../src/cpi/methods';
import { createLogSession } from '../../src/log/logger';
import { loadConfig } from '../../src/config/load';
import { lookupMethod } from '../../src/rpc/dispatch';

const CONTRACT_METHODS = [
  'info', 'create_stemcell', 'delete_stemcell', 'create_vm', 'delete_vm', 'has_vm', 'reboot_vm', 'set_vm_metadata',
  'calculate_vm_cloud_properties', 'create_disk', 'delete_disk', 'attach_disk', 'detach_disk', 'has_disk', 'get_disks',
  'resize_disk', 'update_disk', 'set_disk_metadata', 'snapshot_disk', 'delete_snapshot', 'create_network', 'delete_network',
  'current_vm_id', 'ping',
];

function ctx(apiVersion = 2): CallContext {
  const logs = createLogSession();
  logs.setLevel('silent');
  return { config: loadConfig({ env: {} }).config, log: logs.logger, apiVersion };
}

async function run(method: string, args: unknown[], backend: Partial<CpiBackend>, apiVersion = 2) {
  const b = { name: 'fake', ...backend } as CpiBackend;
  return METHODS[method]!.run(args, ctx(apiVersion), () => b);
}

async function failure(p: Promise<unknown>) {
  try {
    await p;
  } catch (e) {
    return e as { boshType: string; message: string };
  }
  throw new Error('expected a failure');
}

describe('method catalogue', () => {
  it('knows every method of the contract', () => {
    expect([...METHOD_NAMES].sort()).toEqual([...CONTRACT_METHODS].sort());
  });

  it('answers NotImplemented for unknown methods, including prototype names', () => {
    for (const m of ['frobnicate', '__proto__', 'constructor', 'toString']) {
      expect(() => lookupMethod(m)).toThrow(`Must call implemented method: Unknown method '${m}'`);
    }
  });

  it('answers NotImplemented for methods the backend leaves out', async () => {
    for (const m of CONTRACT_METHODS.filter((n) => n !== 'info' && n !== 'ping')) {
      const args = {
        create_stemcell: ['/img', {}], delete_stemcell: ['s'], create_vm: ['a', 's', {}, {}, [], {}], delete_vm: ['v'], has_vm: ['v'],
        reboot_vm: ['v'], set_vm_metadata: ['v', {}], calculate_vm_cloud_properties: [{ cpu: 1, ram: 1, ephemeral_disk_size: 1 }],
        create_disk: [1, {}, null], delete_disk: ['d'], attach_disk: ['v', 'd'], detach_disk: ['v', 'd'], has_disk: ['d'], get_disks: ['v'],
        resize_disk: ['d', 2], update_disk: ['d', 2, {}], set_disk_metadata: ['d', {}], snapshot_disk: ['d', {}], delete_snapshot: ['s'],
        create_network: [{ type: 'manual', cloud_properties: {} }], delete_network: ['n'], current_vm_id: [],
      }[m]!;
      const e = await failure(run(m, args, {}));
      expect(e.boshType).toBe('Bosh::Clouds::NotImplemented');
      expect(e.message).toContain(`'${m}' is not implemented by the fake backend`);
    }
  });

  it('shapes create_vm and attach_disk results for v1 and v2 callers', async () => {
    const backend: Partial<CpiBackend> = {
      createVm: async () => ({ cid: 'c-1', networks: { n: { type: 'manual', ip: '10.0.0.2' } } }),
      attachDisk: async () => '/warden-cpi-dev/vol-1',
    };
    const vmArgs = ['agent', 'sc', {}, {}, [], {}];
    expect(await run('create_vm', vmArgs, backend, 2)).toEqual(['c-1', { n: { type: 'manual', ip: '10.0.0.2' } }]);
    expect(await run('create_vm', vmArgs, backend, 1)).toBe('c-1');
    expect(await run('attach_disk', ['c-1', 'vol-1'], backend, 2)).toBe('/warden-cpi-dev/vol-1');
    expect(await run('attach_disk', ['c-1', 'vol-1'], backend, 1)).toBeNull();
  });

  it('never passes an empty disk hint to a v2 caller', async () => {
    const e = await failure(run('attach_disk', ['c-1', 'vol-1'], { attachDisk: async () => '' }));
    expect(e.boshType).toBe('Bosh::Clouds::CpiError');
  });

  it('shapes create_network as [id, {range, gateway, reserved}, cloud_properties]', async () => {
    const r = await run('create_network', [{ type: 'manual', range: '10.9.0.0/24', gateway: '10.9.0.1', cloud_properties: { a: 1 } }], {
      createNetwork: async (d) => ({ id: 'n-1', range: d.range!, gateway: d.gateway!, reserved: ['10.9.0.2'], cloudProperties: d.cloud_properties ?? {} }),
    });
    expect(r).toEqual(['n-1', { range: '10.9.0.0/24', gateway: '10.9.0.1', reserved: ['10.9.0.2'] }, { a: 1 }]);
  });

  it('says which argument is wrong and what was expected', async () => {
    const b = { createVm: async () => ({ cid: 'c', networks: {} }) };
    expect((await failure(run('create_vm', ['a', 's', {}], b))).message).toBe(
      'create_vm expects 6 arguments (agent_id, stemcell_cid, cloud_properties, networks, disk_cids, env) but got 3: missing networks, disk_cids, env',
    );
    expect((await failure(run('create_vm', ['a', 's', 'big', {}, [], {}], b))).message).toBe(
      "create_vm: third argument 'cloud_properties': must be an object, got a string",
    );
    expect((await failure(run('create_vm', ['a', 's', {}, { default: { type: 'manual', ip: 10 } }, [], {}], b))).message).toBe(
      "create_vm: fourth argument 'networks' at default.ip: must be a string, got an integer",
    );
    expect((await failure(run('create_vm', ['a', 's', {}, { default: { type: 'bogus' } }, [], {}], b))).message).toContain(
      'at default.type: expected one of "manual", "dynamic", "vip"',
    );
    expect((await failure(run('delete_vm', [''], {}))).message).toBe("delete_vm: first argument 'vm_cid': must not be empty");
    expect((await failure(run('create_disk', [1.5, {}, null], {}))).message).toBe("create_disk: first argument 'size': must be an integer, got a number");
    const e = await failure(run('has_vm', [], {}));
    expect(e.boshType).toBe('Bosh::Clouds::CpiError');
  });

  it('tolerates extra trailing arguments and null for object arguments', async () => {
    let seen: unknown[] = [];
    const b: Partial<CpiBackend> = {
      createStemcell: async (p, cp, e) => {
        seen = [p, cp, e];
        return 'sc-1';
      },
    };
    expect(await run('create_stemcell', ['/img', null, { tags: { a: 'b' } }, 'extra'], b)).toBe('sc-1');
    expect(seen).toEqual(['/img', {}, { tags: { a: 'b' } }]);
    expect(await run('create_stemcell', ['/img', { name: 'x' }], b)).toBe('sc-1');
    expect(seen).toEqual(['/img', { name: 'x' }, {}]);
  });

  it('answers info and ping without a backend', async () => {
    expect(await METHODS.info!.run([])).toEqual({ stemcell_formats: ['warden-tar', 'general-tar', 'docker-light'], api_version: 2 });
    expect(await METHODS.ping!.run([])).toBe('pong');
  });
});
