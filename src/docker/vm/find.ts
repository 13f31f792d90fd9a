/**
 * From a VM CID to its container. CIDs are container names at creation, but set_vm_metadata
 * renames containers to something readable, so the CID label is looked up first; the Go CPI's
 * containers (named c-<uuid>, no labels) are found by name.
 */
import { loadChunk } from '../../runtime/chunks';
import type { DockerContext } from '../context';
import { isNotFound, seg } from '../engine/client';
import type { ContainerInspect, ContainerSummary } from '../engine/types';
import { isDockerName, LEGACY_VM_NAME } from '../cids';
import { L } from '../labels';
import { engineKey } from '../state/dirs';

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

/**
 * Finishes or rolls back a recreate of `cid` that a killed call left journaled on this engine
 * (see disk/recreate.ts); a journal of another engine is not this call's business. The caller
 * holds the VM's lock. Returns whether there was one.
 */
export async function settleJournal(ctx: DockerContext, cid: string): Promise<boolean> {
  const engines = ctx.state.journalEngines(cid);
  if (!engines.length) return false;
  const engineId = await ctx.engineId();
  if (!engines.includes(engineKey(engineId))) return false;
  const file = ctx.state.journalFile(engineId, cid);
  const disks = loadChunk('disks');
  const journal = disks.readJournal(file);
  if (!journal) return false;
  await disks.completeRecreate(ctx, file, journal);
  return true;
}

/** has_vm: one list call for the CPI's own VMs; a VM in the middle of a journaled recreate exists. */
export async function vmExists(ctx: DockerContext, cid: string): Promise<boolean> {
  if (!isDockerName(cid)) return false;
  if (ctx.state.journalEngines(cid).length) {
    return ctx.locked([['vm', cid]], async () => {
      await settleJournal(ctx, cid);
      return (await findVm(ctx, cid)) !== undefined;
    });
  }
  if (await byLabel(ctx, cid)) return true;
  return (await legacy(ctx, cid)) !== undefined;
}
