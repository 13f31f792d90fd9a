/** What every part of the Docker backend works with during one CPI call. */
import type { CallContext } from '../cpi/backend';
import type { Config } from '../config/schema';
import type { Logger } from '../log/logger';
import { EngineClient } from './engine/client';
import type { EngineInfo } from './engine/types';
import { baseLabels } from './labels';
import { StateDirs } from './state/dirs';

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

  /** GET /info, once per call: host capacity and cgroup version. */
  engineInfo(): Promise<EngineInfo> {
    this.info ??= this.engine.request<EngineInfo>('GET', '/info');
    return this.info;
  }
}
