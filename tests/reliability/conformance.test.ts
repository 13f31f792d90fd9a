/**
 * The conformance scenarios (conformance-scenarios.ts) against the Docker backend: bin/cpi as
 * `bosh create-env`, `bosh delete-env` and a Director call it, on the real engine.
 */
import { containerOf } from '../helpers/docker';
import { Lab, SUBNETS } from '../helpers/lab';
import { conformanceSuite } from './conformance-scenarios';

const lab = new Lab('conformance', SUBNETS.conformance);

conformanceSuite('Docker backend', () => ({
  lab,
  container: containerOf,
  // Labels are fixed at creation: the container is renamed, the metadata kept in its state directory.
  vmMetadata: { kind: 'renamed' },
  diskMetadata: { kind: 'stored' },
  snapshots: true,
  stemcellTags: true,
  goneVm: null,
  goneDisk: null,
  preparedMounts: [],
}));
