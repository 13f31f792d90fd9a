/**
 * Cloud IDs of the Docker backend. The formats are the Go Docker CPI's, so a state file written
 * by it keeps working: VMs `c-<uuid>` (the container name), ephemeral volumes `vol-eph-<vm>`,
 * persistent disks `vol-<uuid>`, stemcells `bosh.io/stemcells:img-<uuid>`.
 */
export const STEMCELL_REPO = 'bosh.io/stemcells';
export const ephemeralVolumeName = (vmCid: string): string => `vol-eph-${vmCid}`;

/** Characters Docker allows in container and volume names; also safe as a file name. */
const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,253}$/;

/** Whether a CID could name a container or volume; anything else cannot exist. */
export function isDockerName(cid: string): boolean {
  return DOCKER_NAME.test(cid);
}

/** The Go Docker CPI named containers c-<uuid> without labels; they count as VMs too. */
export const LEGACY_VM_NAME = /^c-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
