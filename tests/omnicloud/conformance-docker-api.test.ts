/**
 * The conformance scenarios (tests/reliability/conformance-scenarios.ts) and a create-env call by
 * call, through `backend: omnicloud` with the shipped `docker-api` provider (Endpoint targets on
 * the Engine API), on the real engine.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Lab, SUBNETS } from '../helpers/lab';
import { conformanceSuite } from '../reliability/conformance-scenarios';
import { createEnvSequence } from './create-env';

const lab = new Lab('conformance-omni-docker-api', SUBNETS.omniDockerApi, { backend: 'omnicloud', omnicloud: { provider: 'docker-api', settings: { stop_timeout: 2 } } });

// The operator's one-time host preparation the provider documents: a shared disks directory.
const disks = path.join(lab.stateDir, 'disks');
fs.mkdirSync(disks, { recursive: true });
execFileSync('mount', ['--bind', disks, disks]);
execFileSync('mount', ['--make-rshared', disks]);

const target = () => ({
  lab,
  // The provider names each container by its VM's CID.
  container: async (vm: string) => vm,
  // The Engine API cannot change a container's or a volume's labels, and the provider keeps no
  // files of its own: set_vm_metadata and set_disk_metadata are NotImplemented (BOSH swallows it).
  vmMetadata: { kind: 'not-implemented' } as const,
  diskMetadata: { kind: 'not-implemented' } as const,
  snapshots: false,
  stemcellTags: false,
  // DELETE of a container or a volume that is gone answers 404.
  goneVm: 'Bosh::Clouds::VMNotFound' as const,
  goneDisk: 'Bosh::Clouds::DiskNotFound' as const,
  preparedMounts: [disks],
});

conformanceSuite('omnicloud, docker-api provider', target);

describe('omnicloud, docker-api provider', () => {
  createEnvSequence('the docker-api provider', target);
});
