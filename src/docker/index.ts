/** The Docker backend chunk: containers are VMs, volumes are disks, images are stemcells. */
import type { CallContext, CpiBackend } from '../cpi/backend';
import { DockerBackend } from './backend';

export function createBackend(call: CallContext): CpiBackend {
  return new DockerBackend(call);
}
