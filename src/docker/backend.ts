/** The Docker backend: the CPI methods, each delegating to the module that owns it. */
import type { CallContext, CpiBackend, CreateNetworkResult, CreateVmInput, CreateVmResult } from '../cpi/backend';
import type { CloudProperties, Metadata, NetworkDefinition, VmResources } from '../cpi/schemas';
import { loadChunk } from '../runtime/chunks';
import { DockerContext } from './context';
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

  createVm(input: CreateVmInput): Promise<CreateVmResult> {
    return loadChunk('vmCreate').createVm(this.ctx, input);
  }

  deleteVm(cid: string): Promise<void> {
    return deleteVm(this.ctx, cid);
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

  createNetwork(def: NetworkDefinition): Promise<CreateNetworkResult> {
    return createNetwork(this.ctx, def);
  }

  deleteNetwork(id: string): Promise<void> {
    return deleteNetwork(this.ctx, id);
  }
}
