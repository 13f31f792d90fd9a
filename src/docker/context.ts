/** What every part of the Docker backend works with during one CPI call. */
import type { CallContext } from '../cpi/backend';
import type { Config } from '../config/schema';
import type { Logger } from '../log/logger';
import { EngineClient } from './engine/client';
import type { EngineInfo } from './engine/types';
import { baseLabels } from './labels';
import { CloudError } from '../rpc/errors';
import { StateDirs } from './state/dirs';
import { withLocks, type LockKind } from './state/locks';

export class DockerContext {
  readonly engine: EngineClient;
  readonly config: Config;
  readonly log: Logger;
  readonly state: StateDirs;
  private info: Promise<EngineInfo> | undefined;

  constructor(readonly call: CallContext) {
    this.config = call.config;
    this.log = call.log;
    this.state = new StateDirs(call.config.state_dir);
    this.engine = new EngineClient(call.config.docker, call.log);
  }

  /** Labels for a new object: ours, the operator's, and the given ones. */
  labels(extra: Record<string, string> = {}): Record<string, string> {
    return { ...baseLabels(this.config.labels), ...extra };
  }

  /** GET /info, once per call: host capacity, cgroup version, the engine's ID. */
  engineInfo(): Promise<EngineInfo> {
    this.info ??= this.engine.request<EngineInfo>('GET', '/info');
    return this.info;
  }

  /** The ID of the engine this call talks to: the key of every local record about its objects. */
  async engineId(): Promise<string> {
    const info = await this.engineInfo();
    if (!info.ID) throw new CloudError(`the Docker engine at ${this.engine.endpoint.display} reported no ID`);
    try {
      this.state.checkIdentity(info.ID, { name: info.Name ?? '', root: info.DockerRootDir ?? '' }, this.engine.endpoint.display);
    } catch (e) {
      throw new CloudError((e as Error).message);
    }
    return info.ID;
  }

  /** Runs `work` holding the given locks (VMs, then disks, then networks: one order everywhere, no deadlock). */
  locked<T>(targets: Array<[LockKind, string]>, work: () => Promise<T>): Promise<T> {
    const onWaited = (what: string, ms: number) => this.log.debug('waited for another call\'s lock', { lock: what, ms });
    return withLocks({ root: this.state.root, waitMs: this.config.lock_timeout_seconds * 1000, onWaited }, targets, work);
  }
}
