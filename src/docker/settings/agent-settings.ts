/**
 * The agent settings document (contract §8.2) that the warden/boshlite stemcell's agent reads
 * from a file (its agent.json has a `File` settings source).
 */
import type { AgentConfig } from '../../config/schema';
import type { DiskHint, Env, Networks } from '../../cpi/schemas';

export interface AgentSettings {
  agent_id: string;
  vm: { name: string; id: string };
  mbus: string;
  ntp: string[];
  blobstore?: { provider: string; options: Record<string, unknown> };
  networks: Networks;
  disks: { system: string; ephemeral: DiskHint | null; persistent: Record<string, DiskHint> };
  env: Env;
  /** The CPI's own stamp, ignored by the agent: each write is the next generation. */
  bosh_cpi?: { generation: number };
}

export function buildAgentSettings(p: { agentId: string; vmCid: string; agent: AgentConfig; networks: Networks; env: Env }): AgentSettings {
  const s: AgentSettings = {
    agent_id: p.agentId,
    vm: { name: p.vmCid, id: p.vmCid },
    mbus: p.agent.mbus ?? '',
    ntp: p.agent.ntp,
    networks: p.networks,
    // The agent types `system` as a string. Warden stemcells use /var/vcap/data as a directory
    // (UseDirectoryAsEphemeralDisk / SkipDiskSetup), so there is no ephemeral device to name.
    disks: { system: '', ephemeral: null, persistent: {} },
    env: p.env,
  };
  if (p.agent.blobstore) s.blobstore = p.agent.blobstore;
  return s;
}
