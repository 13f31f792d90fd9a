/**
 * Short-lived helper containers: work on the Docker host that the CPI cannot do itself (mounts
 * where it is not root, or on a remote engine). Bounded from creation to removal; the container
 * is removed whatever happens, a timed-out one killed first.
 */
import type { DockerContext } from '../context';
import { seg } from './client';
import { readBody } from './transport';

export interface HelperSpec {
  image: string;
  cmd: string[];
  mounts: Array<Record<string, unknown>>;
  /** Binds ("host:container[:options]"): the engine creates a missing host directory. */
  binds?: string[];
  capAdd?: string[];
  /** Host devices to pass in, and the device cgroup rules that let the helper use (and make) them. */
  devices?: string[];
  deviceRules?: string[];
  labels: Record<string, string>;
}

/** Splits the engine's multiplexed stdout/stderr frames (8-byte headers) into text. */
function demux(buf: Buffer): string {
  let out = '';
  for (let i = 0; i + 8 <= buf.length; ) {
    const size = buf.readUInt32BE(i + 4);
    out += buf.subarray(i + 8, i + 8 + size).toString('utf8');
    i += 8 + size;
  }
  return out;
}

/** Runs a helper container to completion and removes it; returns its exit code and output. */
export async function runHelper(ctx: DockerContext, spec: HelperSpec): Promise<{ code: number; output: string }> {
  const created = await ctx.engine.request<{ Id: string }>('POST', '/containers/create', {
    body: {
      Image: spec.image,
      Entrypoint: [],
      Cmd: spec.cmd,
      Labels: spec.labels,
      NetworkDisabled: true,
      HostConfig: { Mounts: spec.mounts, Binds: spec.binds, CapAdd: spec.capAdd,
        Devices: spec.devices?.map((d) => ({ PathOnHost: d, PathInContainer: d, CgroupPermissions: 'rwm' })),
        DeviceCgroupRules: spec.deviceRules, SecurityOpt: ['apparmor=unconfined'], NetworkMode: 'none' },
    },
  });
  const id = seg(created.Id);
  try {
    await ctx.engine.request('POST', `/containers/${id}/start`);
    const { StatusCode } = await ctx.engine.request<{ StatusCode: number }>('POST', `/containers/${id}/wait`, { kind: 'helper' });
    const logs = await ctx.engine.stream('GET', `/containers/${id}/logs`, { query: { stdout: true, stderr: true } });
    return { code: StatusCode, output: demux(await readBody(logs)).trim() };
  } finally {
    await ctx.engine.request('DELETE', `/containers/${id}`, { query: { force: true, v: true } }).catch((e: unknown) => {
      ctx.log.warn('could not remove a helper container', { id: created.Id, error: (e as Error).message });
    });
  }
}
