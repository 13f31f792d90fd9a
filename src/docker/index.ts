/** The Docker backend chunk: containers are VMs, volumes are disks, images are stemcells. */
import type { CallContext, CpiBackend } from '../cpi/backend';

export function createBackend(_call: CallContext): CpiBackend {
  return { name: 'docker' };
}
