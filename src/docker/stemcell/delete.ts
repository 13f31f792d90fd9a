/**
 * delete_stemcell. Idempotent; never leaves an untagged (dangling) image.
 *
 * An image still used by VMs is not removed from under them (the Go CPI force-untagged it,
 * leaving an unnamed image behind): its CID tag moves to `bosh.io/stemcells-deleted:…`, so the
 * CID no longer resolves, and delete_vm removes the image when its last VM goes.
 * Images the CPI did not import (light stemcells) belong to the operator and are left alone.
 */
import type { DockerContext } from '../context';
import { isNotFound, seg } from '../engine/client';
import type { ContainerSummary } from '../engine/types';
import { L } from '../labels';
import { inspectImage } from './resolve';

export const DELETED_REPO = 'bosh.io/stemcells-deleted';
const IMPORTED = /^bosh\.io\/stemcells:img-/;

async function containersUsing(ctx: DockerContext, imageId: string): Promise<ContainerSummary[]> {
  return ctx.engine.request<ContainerSummary[]>('GET', '/containers/json', { query: { all: true, filters: { ancestor: [imageId] } } });
}

async function removeImageRef(ctx: DockerContext, ref: string): Promise<void> {
  try {
    await ctx.engine.request('DELETE', `/images/${seg(ref)}`);
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
}

export async function deleteStemcell(ctx: DockerContext, cid: string): Promise<void> {
  const image = await inspectImage(ctx, cid);
  if (!image) {
    ctx.log.debug('stemcell already gone', { cid });
    return;
  }
  const ours = image.Config?.Labels?.[L.managed] === 'true' || IMPORTED.test(cid);
  if (!ours) {
    ctx.log.info('leaving the image of a light stemcell in place', { cid, image: image.Id });
    return;
  }
  const users = await containersUsing(ctx, image.Id);
  if (users.length > 0) {
    const tag = cid.slice(cid.lastIndexOf(':') + 1);
    await ctx.engine.request('POST', `/images/${seg(image.Id)}/tag`, { query: { repo: DELETED_REPO, tag } });
    ctx.log.info('stemcell still used by VMs: kept until its last VM is deleted', { cid, vms: users.map((u) => u.Names?.[0]) });
  }
  // Untags the CID; with no other tag left the engine removes the image itself.
  await removeImageRef(ctx, cid);
}

/** Called after a VM is deleted: removes its stemcell's image if delete_stemcell left it for this VM. */
export async function collectDeletedStemcell(ctx: DockerContext, imageId: string): Promise<void> {
  const image = await inspectImage(ctx, imageId);
  const tags = image?.RepoTags ?? [];
  if (!image || tags.length === 0 || !tags.every((t) => t.startsWith(`${DELETED_REPO}:`))) return;
  if ((await containersUsing(ctx, image.Id)).length > 0) return;
  for (const t of tags) await removeImageRef(ctx, t);
  ctx.log.info('removed the image of a deleted stemcell after its last VM', { image: image.Id });
}
