/**
 * Labels on everything the CPI creates: how the CPI finds its own objects again (it keeps no
 * database), how operators see what BOSH made, and how tests check for leaks.
 */
export const L = {
  /** On every container, volume, network and image the CPI creates. */
  managed: 'bosh.cpi.managed',
  vmCid: 'bosh.cpi.vm-cid',
  /** The engine's ID (from its info), on VM containers: which engine's records hold the VM's state. */
  engineId: 'bosh.cpi.engine-id',
  agentId: 'bosh.cpi.agent-id',
  stemcell: 'bosh.cpi.stemcell',
  initMode: 'bosh.cpi.init',
  initPath: 'bosh.cpi.init-path',
  /** What starts each init the stemcell has (absent: it has none of that kind). */
  initRunit: 'bosh.cpi.init-runit',
  initSystemd: 'bosh.cpi.init-systemd',
  settingsDelivery: 'bosh.cpi.settings-delivery',
  ephemeralVolume: 'bosh.cpi.ephemeral-volume',
  kind: 'bosh.cpi.kind',
  sizeMiB: 'bosh.cpi.size-mib',
  /** How a persistent disk stores its data: image (ext4 file, sized) or directory. */
  backing: 'bosh.cpi.backing',
  /** How disks reach a VM: block (device nodes), host (the CPI mounts), helper (a helper container mounts), recreate. */
  diskMode: 'bosh.cpi.disk-mode',
  /** On block-mode VM containers: the loop minors the container may use ("2048,2049,…"). */
  blockMinors: 'bosh.cpi.block-minors',
  /** On stemcell images: the agent's configuration file from the rootfs (var/vcap/bosh/agent.json). */
  agentConfig: 'bosh.cpi.agent-config',
  snapshotOf: 'bosh.cpi.snapshot-of',
  /** Prefix for snapshot metadata: bosh.snapshot.<key>. */
  snapshotPrefix: 'bosh.snapshot.',
  networkOrigin: 'bosh.cpi.network-origin',
  /** JSON map of BOSH network name → Docker network name, on VM containers. */
  networks: 'bosh.cpi.networks',
  stemcellName: 'bosh.cpi.stemcell.name',
  stemcellVersion: 'bosh.cpi.stemcell.version',
  stemcellOs: 'bosh.cpi.stemcell.os',
  stemcellCid: 'bosh.cpi.stemcell.cid',
  /** Prefix for BOSH tags (env.bosh.tags, v3 stemcell tags): bosh.tag.<key>. */
  tagPrefix: 'bosh.tag.',
} as const;

/** Docker label values are strings; tags may carry numbers or booleans. */
export function tagLabels(tags: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!tags || typeof tags !== 'object' || Array.isArray(tags)) return out;
  for (const [k, v] of Object.entries(tags as Record<string, unknown>)) {
    if (v === null || v === undefined || typeof v === 'object') continue;
    out[`${L.tagPrefix}${k}`] = String(v);
  }
  return out;
}

/** The labels every created object carries: ours plus the operator's configured ones. */
export function baseLabels(configured: Record<string, string>): Record<string, string> {
  return { ...configured, [L.managed]: 'true' };
}
