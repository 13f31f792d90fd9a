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

/** What the labels of an image this CPI imported say, or undefined (all of it was not recorded). */
function fromLabels(labels: Record<string, string>, needAll: boolean): InitDetection | undefined {
  const mode = labels[L.initMode] as InitMode | undefined;
  if (!mode) return undefined;
  const recorded = L.initSystemd in labels;
  if (!recorded && needAll) return undefined; // imported by an older release: the runit check stopped at the first find
  const available = recorded ? { runit: labels[L.initRunit] || undefined, systemd: labels[L.initSystemd] || undefined } : undefined;
  return { mode, path: labels[L.initPath], available };
}

/**
 * How an image boots, and (`needAll`) every init it has. Stemcells this CPI imported carry it as
 * labels; other images (light stemcells, the Go CPI's) are probed through a container that is
 * never started.
 */
export async function initOf(ctx: DockerContext, image: ImageInspect, needAll = false): Promise<InitDetection> {
  const known = fromLabels(image.Config?.Labels ?? {}, needAll);
  if (known) return known;
  const created = await ctx.engine.request<{ Id: string }>('POST', '/containers/create', {
    body: { Image: image.Id, Cmd: ['/bin/true'], Entrypoint: [''], Labels: ctx.labels(), NetworkDisabled: true },
  });
  try {
    const available: NonNullable<InitDetection['available']> = {};
    for (const p of PROBES) {
      if (available[p.mode as 'runit' | 'systemd']) continue;
      try {
        await ctx.engine.request('HEAD', `/containers/${seg(created.Id)}/archive`, { query: { path: p.path } });
        available[p.mode as 'runit' | 'systemd'] = p.mode === 'systemd' ? '/sbin/init' : p.path;
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
    if (available.runit) return { mode: 'runit', path: available.runit, available };
    if (available.systemd) return { mode: 'systemd', path: available.systemd, available };
    return { mode: 'none', available };
  } finally {
    await ctx.engine.request('DELETE', `/containers/${seg(created.Id)}`, { query: { force: true, v: true } }).catch(() => undefined);
  }
}

export function stemcellNotFound(cid: string): CloudError {
  return new CloudError(`stemcell '${cid}' not found: no such image on the Docker engine`);
}
