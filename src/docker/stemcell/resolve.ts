/** Finding a stemcell's image and deciding how its containers start. */
import { CloudError } from '../../rpc/errors';
import type { DockerContext } from '../context';
import { isNotFound, seg } from '../engine/client';
import type { ImageInspect } from '../engine/types';
import { L } from '../labels';
import type { InitDetection, InitMode } from './rootfs-scan';

export async function inspectImage(ctx: DockerContext, ref: string): Promise<ImageInspect | undefined> {
  try {
    return await ctx.engine.request<ImageInspect>('GET', `/images/${seg(ref)}/json`);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

const PROBES: Array<{ path: string; mode: InitMode }> = [
  { path: '/usr/sbin/runsvdir-start', mode: 'runit' },
  { path: '/sbin/runsvdir-start', mode: 'runit' },
  { path: '/lib/systemd/systemd', mode: 'systemd' },
  { path: '/usr/lib/systemd/systemd', mode: 'systemd' },
];

/**
 * How an image boots. Stemcells this CPI imported carry it as a label; images it did not import
 * (light stemcells, the Go CPI's) are probed once through a container that is never started.
 */
export async function initOf(ctx: DockerContext, image: ImageInspect): Promise<InitDetection> {
  const labels = image.Config?.Labels ?? {};
  const mode = labels[L.initMode] as InitMode | undefined;
  if (mode) return { mode, path: labels[L.initPath] };
  const created = await ctx.engine.request<{ Id: string }>('POST', '/containers/create', {
    body: { Image: image.Id, Cmd: ['/bin/true'], Entrypoint: [''], Labels: ctx.labels(), NetworkDisabled: true },
  });
  try {
    for (const p of PROBES) {
      try {
        await ctx.engine.request('HEAD', `/containers/${seg(created.Id)}/archive`, { query: { path: p.path } });
        return { mode: p.mode, path: p.mode === 'systemd' ? '/sbin/init' : p.path };
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
    return { mode: 'none' };
  } finally {
    await ctx.engine.request('DELETE', `/containers/${seg(created.Id)}`, { query: { force: true, v: true } }).catch(() => undefined);
  }
}

export function stemcellNotFound(cid: string): CloudError {
  return new CloudError(`stemcell '${cid}' not found: no such image on the Docker engine`);
}
