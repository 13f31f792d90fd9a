/** The Docker backend: the CPI methods, each delegating to the module that owns it. */
import type { CallContext, CpiBackend, CreateNetworkResult, CreateVmInput, CreateVmResult } from '../cpi/backend';
import type { CloudProperties, DiskHint, Metadata, NetworkDefinition, VmResources } from '../cpi/schemas';
import { loadChunk } from '../runtime/chunks';
import { DockerContext } from './context';
import { releaseVmMounts } from './disk/vm-dir';
import type { ContainerInspect } from './engine/types';
import { L } from './labels';
import { removeIfUnused } from './network/docker-networks';
import { createNetwork, deleteNetwork } from './network/managed';
import { deleteStemcell } from './stemcell/delete';
import { importLightStemcell, isLightStemcell } from './stemcell/light';
import { vmExists } from './vm/find';
import { deleteVm, rebootVm, setVmMetadata } from './vm/lifecycle';
import { cloudPropertiesFor } from './vm/resources';

export class DockerBackend implements CpiBackend {
  readonly name = 'docker';
  private readonly ctx: DockerContext;

  constructor(call: CallContext) {
    this.ctx = new DockerContext(call);
  }

  createStemcell(imagePath: string, cp: CloudProperties, env: Record<string, unknown>): Promise<string> {
    return isLightStemcell(cp) ? importLightStemcell(this.ctx, cp) : loadChunk('stemcellImport').importStemcell(this.ctx, imagePath, cp, env);
  }

  deleteStemcell(cid: string): Promise<void> {
    return deleteStemcell(this.ctx, cid);
  }

  async createVm(input: CreateVmInput): Promise<CreateVmResult> {
    // The engine's info is asked for at once (create_vm needs its ID and capacity anyway).
    void this.ctx.engineInfo().catch(() => undefined);
    await this.sweepAbandonedCreates();
    return loadChunk('vmCreate').createVm(this.ctx, input);
  }

  async deleteVm(cid: string): Promise<void> {
    await deleteVm(this.ctx, cid, this.deleteHooks());
    await this.sweepAbandonedCreates();
  }

  private deleteHooks() {
    let block: string | undefined;
    return [
      {
        // Helper- and remote-mode disks are unmounted while the VM's image is still there to run the helper;
        // the CPI's own host mounts and a block VM's loop devices go once the container (and its
        // use of them) is gone.
        beforeDelete: async (vm: string, c: ContainerInspect) => {
          if (['helper', 'remote'].includes(c.Config.Labels?.[L.diskMode] ?? '')) await loadChunk('disks').releaseDisks(this.ctx, vm, c);
          block = c.Config.Labels?.[L.blockMinors];
        },
        afterDelete: async (_vm: string, dirs: Array<string | undefined>) => {
          await releaseVmMounts(dirs);
          if (block && dirs[0]) await loadChunk('disks').releaseBlockVm(block, dirs[0], dirs[1]);
        },
      },
    ];
  }

  /**
   * A create_vm killed part-way (the Director gives up on a call, a host goes down) never
   * returned its CID, so nobody will delete what it made. The next create_vm or delete_vm does.
   */
  private async sweepAbandonedCreates(): Promise<void> {
    if (!this.ctx.state.anyCreating()) return;
    // Only this engine's: a marker of another engine names things this engine does not have.
    const engineId = await this.ctx.engineId();
    for (const cid of this.ctx.state.abandonedCreates(engineId)) {
      this.ctx.log.warn('removing the remains of a create_vm that died part-way', { cid });
      const networks = this.ctx.state.createdNetworks(engineId, cid);
      try {
        await deleteVm(this.ctx, cid, this.deleteHooks());
        for (const n of networks) await removeIfUnused(this.ctx, n);
      } catch (e) {
        this.ctx.log.warn('could not remove the remains of a create_vm', { cid, error: (e as Error).message });
      }
    }
  }

  hasVm(cid: string): Promise<boolean> {
    return vmExists(this.ctx, cid);
  }

  rebootVm(cid: string): Promise<void> {
    return rebootVm(this.ctx, cid);
  }

  setVmMetadata(cid: string, md: Metadata): Promise<void> {
    return setVmMetadata(this.ctx, cid, md);
  }

  async calculateVmCloudProperties(resources: VmResources): Promise<CloudProperties> {
    return cloudPropertiesFor(resources, await this.ctx.engineInfo());
  }

  createDisk(sizeMiB: number, cp: CloudProperties, vmCid: string | null): Promise<string> {
    return loadChunk('disks').createDisk(this.ctx, sizeMiB, cp, vmCid ?? undefined);
  }

  deleteDisk(cid: string): Promise<void> {
    return loadChunk('disks').deleteDisk(this.ctx, cid);
  }

  hasDisk(cid: string): Promise<boolean> {
    return loadChunk('disks').hasDisk(this.ctx, cid);
  }

  attachDisk(vmCid: string, diskCid: string): Promise<DiskHint> {
    return loadChunk('disks').attachDisk(this.ctx, vmCid, diskCid);
  }

  detachDisk(vmCid: string, diskCid: string): Promise<void> {
    return loadChunk('disks').detachDisk(this.ctx, vmCid, diskCid);
  }

  getDisks(vmCid: string): Promise<string[]> {
    return loadChunk('disks').getDisks(this.ctx, vmCid);
  }

  resizeDisk(cid: string, newSizeMiB: number): Promise<void> {
    return loadChunk('disks').resizeDisk(this.ctx, cid, newSizeMiB);
  }

  updateDisk(cid: string, newSizeMiB: number, cp: CloudProperties): Promise<string | null> {
    return loadChunk('disks').updateDisk(this.ctx, cid, newSizeMiB, cp);
  }

  setDiskMetadata(cid: string, md: Metadata): Promise<void> {
    return loadChunk('disks').setDiskMetadata(this.ctx, cid, md);
  }

  snapshotDisk(cid: string, md: Metadata): Promise<string> {
    return loadChunk('disks').snapshotDisk(this.ctx, cid, md);
  }

  deleteSnapshot(cid: string): Promise<void> {
    return loadChunk('disks').deleteSnapshot(this.ctx, cid);
  }

  createNetwork(def: NetworkDefinition): Promise<CreateNetworkResult> {
    return createNetwork(this.ctx, def);
  }

  deleteNetwork(id: string): Promise<void> {
    return deleteNetwork(this.ctx, id);
  }
}
