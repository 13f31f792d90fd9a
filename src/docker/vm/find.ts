/**
 * From a VM CID to its container. CIDs are container names at creation, but set_vm_metadata
 * renames containers to something readable, so the CID label is looked up first; the Go CPI's
 * containers (named c-<uuid>, no labels) are found by name.
 */
import type { DockerContext } from '../context';
import { isNotFound, seg } from '../engine/client';
import type { ContainerInspect, ContainerSummary } from '../engine/types';
import { isDockerName, LEGACY_VM_NAME } from '../cids';
import { L } from '../labels';

async function byLabel(ctx: DockerContext, cid: string): Promise<ContainerSummary | undefined> {
  const list = await ctx.engine.request<ContainerSummary[]>('GET', '/containers/json', {
    query: { all: true, filters: { label: [`${L.vmCid}=${cid}`] } },
  });
  return list[0];
}

export async function inspectContainer(ctx: DockerContext, idOrName: string): Promise<ContainerInspect | undefined> {
  try {
    return await ctx.engine.request<ContainerInspect>('GET', `/containers/${seg(idOrName)}/json`);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

async function legacy(ctx: DockerContext, cid: string): Promise<ContainerInspect | undefined> {
  if (!LEGACY_VM_NAME.test(cid)) return undefined;
  const c = await inspectContainer(ctx, cid);
  return c && c.Name === `/${cid}` ? c : undefined;
}

/** The VM's container, or undefined when there is none (or the CID cannot name one). */
export async function findVm(ctx: DockerContext, cid: string): Promise<ContainerInspect | undefined> {
  if (!isDockerName(cid)) return undefined;
  const s = await byLabel(ctx, cid);
  if (s) return inspectContainer(ctx, s.Id);
  return legacy(ctx, cid);
}

/** has_vm: one list call for the CPI's own VMs. */
export async function vmExists(ctx: DockerContext, cid: string): Promise<boolean> {
  if (!isDockerName(cid)) return false;
  if (await byLabel(ctx, cid)) return true;
  return (await legacy(ctx, cid)) !== undefined;
}
