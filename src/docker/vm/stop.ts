/**
 * How delete_vm stops a VM's container. The Director and bosh create-env stop the VM's jobs
 * through its agent (drain, stop, unmount the disks) before they call delete_vm, so what is left
 * is the agent, monit and the init: a grace period only makes delete_vm wait, the whole
 * stop_timeout_seconds when PID 1 ignores SIGTERM. So:
 *
 * - no job process left (read from /proc on the Docker host): removed at once (SIGKILL), as the
 *   Go Docker CPI does. Filesystems the container mounted (a block-mode disk) are unmounted
 *   cleanly by the kernel when its mount namespace goes;
 * - a job still running, or nothing known (the engine is remote): stopped with the configured
 *   grace first. runit and command starts run under Docker's init (see start-mode.ts), which
 *   passes SIGTERM on, so even then an init that ignores SIGTERM does not cost the whole timeout.
 */
import type { DockerContext } from '../context';
import { isEngineError, isNotFound, seg } from '../engine/client';
import { isLocalEndpoint } from '../engine/endpoint';
import type { ContainerInspect } from '../engine/types';
import { containerProcs, type Proc } from './procs';

/** A BOSH job's process: anything run from a job's or a package's directory. */
const JOB_PATH = /^\/var\/vcap\/(data\/)?(jobs|packages)\//;

export function isJobProcess(p: Proc): boolean {
  return p.args.some((a) => JOB_PATH.test(a));
}

/** Job processes still running in the container; undefined when that cannot be seen from here. */
export function runningJobs(ctx: DockerContext, c: ContainerInspect): Proc[] | undefined {
  if (!isLocalEndpoint(ctx.engine.endpoint)) return undefined;
  const procs = containerProcs(c.Id, c.State?.Pid ?? 0);
  return procs?.filter(isJobProcess);
}

/** Stops a running VM container before its removal (see above); the removal itself kills the rest. */
export async function stopForDelete(ctx: DockerContext, c: ContainerInspect): Promise<void> {
  if (!c.State?.Running) return;
  const jobs = runningJobs(ctx, c);
  if (jobs && jobs.length === 0) {
    ctx.log.debug('no job process left in the VM: removing its container without a grace period', { container: c.Id });
    return;
  }
  const t = ctx.config.stop_timeout_seconds;
  if (jobs) ctx.log.info('job processes still run in the VM: stopping it with the grace period first', { jobs: jobs.length, grace_seconds: t });
  try {
    await ctx.engine.request('POST', `/containers/${seg(c.Id)}/stop`, { query: { t }, extraMs: t * 1000 });
  } catch (e) {
    if (!isNotFound(e) && !(isEngineError(e) && e.statusCode === 304)) throw e;
  }
}
