/**
 * Where a VM's agent settings live and how they reach the container.
 *
 * - bind (the engine shares this machine's filesystem): a host file is bind-mounted at every
 *   configured path; updates rewrite it in place. The file is the one the container has bound
 *   (its mount's source), whichever CPI or state dir made it.
 * - archive (a remote engine): the file is written into the container through the engine's
 *   archive API, before start and again on each update; the CPI's copy is only a cache.
 *
 * Either way the truth is what the container reads. Each write stamps a generation
 * (`bosh_cpi.generation`, ignored by the agent), so an older copy is recognised as older. A
 * bound file removed from the host (a wiped state dir) is restored from what the running
 * container still sees, and the container is written through its own mount namespace while it
 * holds the old file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CloudError } from '../../rpc/errors';
import type { DockerContext } from '../context';
import type { ContainerInspect, MountSpec } from '../engine/types';
import { L } from '../labels';
import type { VmPlace } from '../state/place';
import { readContainerFile, writeContainerFiles } from './archive';
import type { AgentSettings } from './agent-settings';
import { writeInPlace } from './file';

export type Delivery = 'bind' | 'archive';

export function deliveryOf(c: ContainerInspect): Delivery {
  return c.Config?.Labels?.[L.settingsDelivery] === 'archive' ? 'archive' : 'bind';
}

function parse(text: string, where: string): AgentSettings {
  try {
    return JSON.parse(text) as AgentSettings;
  } catch (e) {
    throw new CloudError(`the agent settings at ${where} are not JSON: ${(e as Error).message}`);
  }
}

export const generationOf = (s: AgentSettings): number => (typeof s.bosh_cpi?.generation === 'number' ? s.bosh_cpi.generation : 0);

/** The container's view of a path, through its mount namespace (the CPI as root on the engine's host). */
function inContainer(c: ContainerInspect, p: string): string | undefined {
  const pid = c.State?.Pid;
  return pid && c.State?.Running ? `/proc/${pid}/root${p}` : undefined;
}

/** Whether the container's file is another file than the host's (unknown, e.g. not root: false). */
function differs(inContainerPath: string, hostPath: string): boolean {
  try {
    const x = fs.statSync(inContainerPath);
    const y = fs.statSync(hostPath);
    return x.ino !== y.ino || x.dev !== y.dev;
  } catch {
    return false;
  }
}

export class SettingsStore {
  constructor(private readonly ctx: DockerContext) {}

  private get paths(): string[] {
    return this.ctx.config.agent_settings_paths;
  }

  /** Bind mounts of the host settings file at every configured path in a new container. */
  bindMounts(file: string): MountSpec[] {
    // Writable: the CPI writes through the container's own view when the host file was replaced.
    return this.paths.map((target) => ({ Type: 'bind', Source: file, Target: target, ReadOnly: false }) as MountSpec);
  }

  /** A new VM's first settings, before its container exists (bind) or before it starts (archive). */
  async create(place: VmPlace, settings: AgentSettings, delivery: Delivery, containerId?: string): Promise<void> {
    const stamped = { ...settings, bosh_cpi: { generation: 1 } };
    const json = JSON.stringify(stamped);
    if (delivery === 'bind') writeInPlace(place.boundSettings as string, json);
    else {
      this.cache(place, json);
      if (containerId) await this.putArchive(containerId, Buffer.from(json));
    }
  }

  /** The VM's current settings: what its container reads. */
  async read(place: VmPlace, c: ContainerInspect): Promise<AgentSettings> {
    if (deliveryOf(c) === 'archive' || !place.boundSettings) {
      const file = await readContainerFile(this.ctx, c.Id, this.paths[0] as string);
      if (!file) throw new CloudError(`VM ${place.cid} has no agent settings at ${this.paths[0]} in its container`);
      const settings = parse(file.toString('utf8'), `${this.paths[0]} in VM ${place.cid}`);
      this.cache(place, JSON.stringify(settings));
      return settings;
    }
    try {
      return parse(fs.readFileSync(place.boundSettings, 'utf8'), place.boundSettings);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    return this.restore(place, c);
  }

  /** A bound settings file gone from the host: recovered from what the running container still sees. */
  private restore(place: VmPlace, c: ContainerInspect): AgentSettings {
    const seen = inContainer(c, this.paths[0] as string);
    let text: string | undefined;
    try {
      if (seen) text = fs.readFileSync(seen, 'utf8');
    } catch {
      /* not readable from here: not root, or not this machine */
    }
    if (text === undefined) {
      throw new CloudError(
        `VM ${place.cid}'s agent settings file ${place.boundSettings} is gone (was the state directory wiped?) and its container's copy cannot be read from here; recreate the VM`,
      );
    }
    const settings = parse(text, `${this.paths[0]} in VM ${place.cid}`);
    fs.mkdirSync(path.dirname(place.boundSettings as string), { recursive: true, mode: 0o700 });
    writeInPlace(place.boundSettings as string, text);
    this.ctx.log.warn('restored a VM\'s agent settings file from its running container', { vm: place.cid, file: place.boundSettings });
    return settings;
  }

  /** Writes `settings` as the next generation after `previous`, where the container reads it. */
  async write(place: VmPlace, c: ContainerInspect, previous: AgentSettings, settings: AgentSettings, containerId = c.Id): Promise<void> {
    const json = JSON.stringify({ ...settings, bosh_cpi: { generation: generationOf(previous) + 1 } });
    if (deliveryOf(c) === 'archive' || !place.boundSettings) {
      await this.putArchive(containerId, Buffer.from(json));
      this.cache(place, json);
      return;
    }
    writeInPlace(place.boundSettings, json);
    // A restored host file is not the one the running container has bound: write that one too.
    const seen = inContainer(c, this.paths[0] as string);
    if (seen && containerId === c.Id && differs(seen, place.boundSettings)) {
      try {
        writeInPlace(seen, json);
      } catch (e) {
        throw new CloudError(`cannot update the agent settings inside VM ${place.cid}: ${(e as Error).message}`);
      }
    }
  }

  private cache(place: VmPlace, json: string): void {
    try {
      fs.mkdirSync(place.dir, { recursive: true, mode: 0o700 });
      writeInPlace(path.join(place.dir, 'settings.json'), json);
    } catch (e) {
      this.ctx.log.debug('could not cache the agent settings', { vm: place.cid, error: (e as Error).message });
    }
  }

  private async putArchive(containerId: string, content: Buffer): Promise<void> {
    try {
      await writeContainerFiles(this.ctx, containerId, this.paths.map((p) => ({ path: p, content })));
    } catch (e) {
      throw new CloudError(`cannot write the agent settings into container ${containerId}: ${(e as Error).message}`, { cause: e });
    }
  }
}
