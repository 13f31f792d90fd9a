/**
 * Where a VM's agent settings live and how they reach the container.
 *
 * - bind (the default when the engine shares this machine's filesystem): the settings file in
 *   the VM's state directory is bind-mounted read-only at every configured path; updates rewrite
 *   it in place.
 * - archive (a remote engine): the file is written into the container through the engine's
 *   archive API, before start and again on each update.
 *
 * The CPI's copy in the state directory is the record either way; when it is missing (the CPI
 * moved to another machine), the settings are read back from the container.
 */
import * as fs from 'node:fs';
import { CloudError } from '../../rpc/errors';
import type { DockerContext } from '../context';
import type { MountSpec } from '../engine/types';
import { readContainerFile, writeContainerFiles } from './archive';
import type { AgentSettings } from './agent-settings';
import { writeInPlace } from './file';

export type Delivery = 'bind' | 'archive';

export class SettingsStore {
  constructor(private readonly ctx: DockerContext) {}

  private get paths(): string[] {
    return this.ctx.config.agent_settings_paths;
  }

  /** Bind mounts of the host settings file at every configured path in the container. */
  bindMounts(vmCid: string): MountSpec[] {
    const source = this.ctx.state.settingsFile(vmCid);
    return this.paths.map((target) => ({ Type: 'bind', Source: source, Target: target, ReadOnly: true }) as MountSpec);
  }

  /** Writes the CPI's copy and, in archive mode, delivers it into the container. */
  async write(vmCid: string, settings: AgentSettings, delivery: Delivery, containerId?: string): Promise<void> {
    const json = JSON.stringify(settings);
    writeInPlace(this.ctx.state.settingsFile(vmCid), json);
    if (delivery === 'archive') {
      if (!containerId) throw new Error('archive delivery needs a container');
      await this.putArchive(containerId, Buffer.from(json));
    }
  }

  private async putArchive(containerId: string, content: Buffer): Promise<void> {
    try {
      await writeContainerFiles(this.ctx, containerId, this.paths.map((path) => ({ path, content })));
    } catch (e) {
      throw new CloudError(`cannot write the agent settings into container ${containerId}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** The VM's current settings: the CPI's copy, or the container's when the copy is gone. */
  async read(vmCid: string, containerId: string): Promise<AgentSettings> {
    try {
      return JSON.parse(fs.readFileSync(this.ctx.state.settingsFile(vmCid), 'utf8')) as AgentSettings;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const path = this.paths[0] as string;
    const file = await readContainerFile(this.ctx, containerId, path);
    if (!file) throw new CloudError(`container ${containerId} has no agent settings at ${path}`);
    const settings = JSON.parse(file.toString('utf8')) as AgentSettings;
    this.ctx.state.createVmDir(vmCid);
    writeInPlace(this.ctx.state.settingsFile(vmCid), JSON.stringify(settings));
    return settings;
  }
}

