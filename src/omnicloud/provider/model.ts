/** A provider as the engine runs it: every template compiled and checked when the file loads. */
import type { CompiledErrorRule } from '../classify';
import type { LinearRegex } from '../parse/linear';
import type { CompiledRules } from '../parse/rules';
import type { StatusMapping } from '../status';
import type { CompiledCommand } from '../template/command';
import type { CompiledEndpoint } from '../template/endpoint';
import type { Segment } from '../template/placeholders';
import type { MethodMapEntry, PROVIDER_TYPES } from './schema';

export const HTTP_METHODS = { Get: 'GET', Post: 'POST', Put: 'PUT', Patch: 'PATCH', Delete: 'DELETE', Option: 'OPTIONS' } as const;

export type CompiledTarget =
  | { kind: 'command'; command: CompiledCommand }
  | {
      kind: 'endpoint';
      endpoint: CompiledEndpoint;
      verifySsl?: boolean;
      acceptStatus: readonly number[];
      connectTimeoutS?: number;
      readTimeoutS?: number;
    };

export type Phase = 'pre_delete' | 'pre_exec' | 'main' | 'post_exec';

export interface CompiledStep {
  /** How later templates refer to its output: `{steps.<name>.<field>}`. */
  name: string;
  phase: Phase;
  /** `actions.x.pre_exec[0]`, for messages. */
  path: string;
  target: CompiledTarget;
  params: readonly string[];
  /** Steps whose outputs its templates use (`main` for `{result.*}`). */
  refs: readonly string[];
  rules?: CompiledRules;
  defaults: Readonly<Record<string, unknown>>;
  timeoutS?: number;
  env: ReadonlyArray<[string, Segment[]]>;
  cwd?: Segment[];
  errorRules: readonly CompiledErrorRule[];
  expect?: Readonly<Record<string, unknown>>;
  onFailure: 'abort' | 'continue';
  always: boolean;
  /** Runs only after a failure (post_exec). */
  rollback: boolean;
}

export interface CompiledAction {
  name: string;
  params: readonly string[];
  /** Every parameter its steps declare: the only ones whose values reach a template. */
  used: ReadonlySet<string>;
  defaults: Readonly<Record<string, unknown>>;
  secretParams: ReadonlySet<string>;
  paramPatterns: ReadonlyMap<string, LinearRegex>;
  /** Parameters a manifest may set in this action (the provider's and the action's lists). */
  overridable: ReadonlySet<string>;
  /** pre_delete, pre_exec, main and post_exec steps, in the order they run. */
  steps: readonly CompiledStep[];
  main: CompiledStep;
  maxOutputBytes?: number;
}

export interface Validation {
  requiredCommands: readonly string[];
  versionRequirements: ReadonlyArray<[string, string]>;
}

export interface Provider {
  name: string;
  type: (typeof PROVIDER_TYPES)[number];
  file: string;
  /** sha256 of the file, for caches. */
  digest: string;
  defaults: Readonly<Record<string, unknown>>;
  actions: ReadonlyMap<string, CompiledAction>;
  validation: Validation;
  status?: StatusMapping;
  errorRules: readonly CompiledErrorRule[];
  secretParams: ReadonlySet<string>;
  paramPatterns: ReadonlyMap<string, LinearRegex>;
  env: Readonly<Record<string, string>>;
  passEnv: readonly string[];
  timeoutS?: number;
  verifySsl?: boolean;
  methodMap: Readonly<Record<string, MethodMapEntry>>;
  /** derived_params: computed after the layers are merged, over every other value. */
  derived: ReadonlyArray<[string, { from: string; multiply: number }]>;
  /** Load-time remarks that do not stop the provider from loading. */
  warnings: readonly string[];
}
