/**
 * The conformance scenarios (tests/reliability/conformance-scenarios.ts) and a create-env call by
 * call, through `backend: omnicloud` with the shipped `docker` provider (the docker CLI), on the
 * real engine.
 */
import * as path from 'node:path';
import { Lab, SUBNETS } from '../helpers/lab';
import { conformanceSuite } from '../reliability/conformance-scenarios';
import { createEnvSequence } from './create-env';

const lab = new Lab('conformance-omni-docker', SUBNETS.omniDocker, { backend: 'omnicloud', omnicloud: { provider: 'docker', settings: { stop_timeout: 2 } } });

const target = () => ({
  lab,
  // The provider names each container by its VM's CID.
  container: async (vm: string) => vm,
  // Labels are fixed at creation: metadata is kept in state_dir/metadata.
  vmMetadata: { kind: 'file', dir: path.join(lab.stateDir, 'metadata', 'vms') } as const,
  diskMetadata: { kind: 'file', dir: path.join(lab.stateDir, 'metadata', 'disks') } as const,
  snapshots: false,
  stemcellTags: false,
  // `docker rm --force` of a container that is gone succeeds; `docker volume rm` says No such volume.
  goneVm: null,
  goneDisk: 'Bosh::Clouds::DiskNotFound' as const,
  // create_container makes <state_dir>/disks a shared mount (live attach) and keeps it.
  preparedMounts: [path.join(lab.stateDir, 'disks')],
  settingsOnHost: (vm: string) => path.join(lab.stateDir, 'settings', `${vm}.json`),
});

conformanceSuite('omnicloud, docker provider', target);

describe('omnicloud, docker provider', () => {
  createEnvSequence('the docker provider', target);
});
