/**
 * The BOSH bridge: a CpiBackend whose methods run provider actions (runner.ts). Only mapped
 * methods exist on the backend object, so the dispatcher answers NotImplemented for the others —
 * never a success that did nothing.
 */
import type { CallContext, CpiBackend, CreateVmInput } from '../../cpi/backend';
import { CloudError, VMCreationFailed } from '../../rpc/errors';
import * as P from './params';
import { assignedNetworks, diskList, hintOf, networkShape } from './results';
import { Runner } from './runner';

type Backend = { -readonly [K in keyof CpiBackend]: CpiBackend[K] };

function vmMethods(r: Runner, b: Backend): void {
  const { provider, call } = r;
  if (r.has('create_vm')) {
    b.createVm = async (input: CreateVmInput) => {
      const params = P.createVmParams(call, input);
      try {
        const ran = await r.run('create_vm', params, {}, P.manifestParams(input.cloudProperties));
        return { cid: r.cidOf('create_vm', ran), networks: assignedNetworks(input.networks, ran.result, `${provider.name}.${ran.entry.action}`) };
      } catch (e) {
        await r.cleanupVm(params);
        throw e instanceof CloudError && !(e instanceof VMCreationFailed) ? new VMCreationFailed(e.message, false) : e;
      }
    };
  }
  if (r.has('delete_vm')) b.deleteVm = async (cid) => void (await r.run('delete_vm', P.vmParams(cid), { vm: cid }));
  if (r.has('has_vm')) b.hasVm = (cid) => r.exists('has_vm', P.vmParams(cid), { vm: cid });
  if (r.has('reboot_vm')) b.rebootVm = async (cid) => void (await r.run('reboot_vm', P.vmParams(cid), { vm: cid }));
  if (r.has('set_vm_metadata')) b.setVmMetadata = async (cid, md) => void (await r.run('set_vm_metadata', { ...P.vmParams(cid), ...P.metadataParams(md) }, { vm: cid }));
  if (r.has('calculate_vm_cloud_properties')) {
    b.calculateVmCloudProperties = async (res) => {
      const ran = await r.run('calculate_vm_cloud_properties', { cpu: res.cpu, ram: res.ram, ram_mb: res.ram, ephemeral_disk_size: res.ephemeral_disk_size }, {});
      if (ran.result === null || typeof ran.result !== 'object' || Array.isArray(ran.result)) throw new CloudError(`calculate_vm_cloud_properties: ${provider.name}.${ran.entry.action} did not return an object`);
      return ran.result as Record<string, unknown>;
    };
  }
  if (r.has('current_vm_id')) {
    b.currentVmId = async () => {
      const ran = await r.run('current_vm_id', {}, {});
      return r.cidOf('current_vm_id', { ...ran, entry: { ...ran.entry, cid: { from: 'result', name: 'id' } } });
    };
  }
}

function diskMethods(r: Runner, b: Backend): void {
  const { provider } = r;
  if (r.has('create_disk')) b.createDisk = async (size, cp, vm) => r.cidOf('create_disk', await r.run('create_disk', P.createDiskParams(size, cp, vm), {}, P.manifestParams(cp)));
  if (r.has('delete_disk')) b.deleteDisk = async (cid) => void (await r.run('delete_disk', P.diskParams(cid), { disk: cid }));
  if (r.has('attach_disk')) {
    b.attachDisk = (vm, disk) =>
      r.settingsLock(vm, async () => {
        const ran = await r.run('attach_disk', P.attachParams(vm, disk), { vm, disk });
        const hint = hintOf(ran.entry, ran.result, ran.params, disk);
        await r.updateSettings(vm, disk, hint);
        return hint;
      });
  }
  if (r.has('detach_disk')) {
    b.detachDisk = (vm, disk) =>
      r.settingsLock(vm, async () => {
        await r.run('detach_disk', P.attachParams(vm, disk), { vm, disk });
        await r.updateSettings(vm, disk, undefined);
      });
  }
  if (r.has('has_disk')) b.hasDisk = (cid) => r.exists('has_disk', P.diskParams(cid), { disk: cid });
  if (r.has('get_disks')) {
    b.getDisks = async (vm) => {
      const ran = await r.run('get_disks', P.vmParams(vm), { vm });
      const list = diskList(ran.result);
      if (!list) throw new CloudError(`get_disks: ${provider.name}.${ran.entry.action} returned no list of disks (an array of strings or of objects with id), got ${JSON.stringify(ran.result)?.slice(0, 80)}`);
      return list;
    };
  }
  if (r.has('resize_disk')) b.resizeDisk = async (cid, size) => void (await r.run('resize_disk', P.resizeDiskParams(cid, size), { disk: cid }));
  if (r.has('update_disk')) {
    b.updateDisk = async (cid, size, cp) => {
      const ran = await r.run('update_disk', P.updateDiskParams(cid, size, cp), { disk: cid }, P.manifestParams(cp));
      const id = ran.result !== null && typeof ran.result === 'object' ? (ran.result as Record<string, unknown>)['id'] : undefined;
      return typeof id === 'string' && id !== cid ? id : null;
    };
  }
  if (r.has('set_disk_metadata')) b.setDiskMetadata = async (cid, md) => void (await r.run('set_disk_metadata', { ...P.diskParams(cid), ...P.metadataParams(md) }, { disk: cid }));
  if (r.has('snapshot_disk')) {
    b.snapshotDisk = async (cid, md) => {
      const name = P.freshName('snap');
      return r.cidOf('snapshot_disk', await r.run('snapshot_disk', { ...P.diskParams(cid), ...P.metadataParams(md), name, snapshot_name: name }, { disk: cid }));
    };
  }
  if (r.has('delete_snapshot')) b.deleteSnapshot = (cid) => r.runIdempotent('delete_snapshot', { snapshot_cid: cid, snapshot_id: cid, id: cid, name: cid });
}

function stemcellAndNetworkMethods(r: Runner, b: Backend): void {
  if (r.has('create_stemcell')) b.createStemcell = async (imagePath, cp) => r.cidOf('create_stemcell', await r.run('create_stemcell', P.createStemcellParams(imagePath, cp), {}));
  if (r.has('delete_stemcell')) b.deleteStemcell = (cid) => r.runIdempotent('delete_stemcell', { stemcell_cid: cid, image: cid, id: cid, name: cid });
  if (r.has('create_network')) {
    b.createNetwork = async (def) => {
      const ran = await r.run('create_network', P.createNetworkParams(def), {}, P.manifestParams(def.cloud_properties ?? {}));
      return { id: r.cidOf('create_network', ran), ...networkShape(ran.result, `${r.provider.name}.${ran.entry.action}`), cloudProperties: def.cloud_properties ?? {} };
    };
  }
  if (r.has('delete_network')) b.deleteNetwork = (id) => r.runIdempotent('delete_network', { network_id: id, network: id, id, name: id });
}

export function createBackend(call: CallContext): CpiBackend {
  const r = new Runner(call);
  const b: Backend = { name: `omnicloud:${r.provider.name}` };
  vmMethods(r, b);
  diskMethods(r, b);
  stemcellAndNetworkMethods(r, b);
  return b;
}
