/**
 * Runs provider actions: merges parameters, checks them, runs the hooks and the main target in
 * order, parses outputs, normalizes statuses and classifies failures.
 *
 * Parameters, lowest precedence first: provider default_settings, action default_settings, the
 * manifest's cloud_properties (only what the provider declares overridable), the configuration's
 * settings, outputs of the initialization sequence, the caller's params. A step's own
 * default_settings sit below all of these.
 *
 * Hooks run in the order pre_delete, pre_exec, main, post_exec. Each step's parsed output is
 * available to later steps as `{steps.<name>.<field>}`, and the main result to post_exec steps as
 * `{result.<field>}`. Failure policy: a step with `on_failure: "abort"` (the default, except for
 * pre_delete) stops the action; `"continue"` logs and goes on; when anything has failed, only
 * post_exec steps marked `always` or `rollback` still run (clean-up; a rollback runs only then),
 * and the first failure is what the caller gets.
 */
import type { Logger } from '../log/logger';
import { classify, type CompiledErrorRule } from './classify';
import { isOmniError, OmniError, providerError, truncateText, validationError } from './errors';
import { buildEnv } from './exec/env';
import { displayUrl, request } from './exec/http';
import { runProcess } from './exec/process';
import { applyRules } from './parse/rules';
import type { CompiledAction, CompiledStep, Provider } from './provider/model';
import { Secrets } from './secrets';
import { applyStatusMap } from './status';
import { renderCommand } from './template/command';
import { renderEndpoint, type RenderedRequest } from './template/endpoint';
import { archiveMember, openBodyFile, packArchive, type OpenedFile } from './exec/bodies';
import { ReportedError } from './parse/json';
import { renderSegments, type Scope } from './template/values';

export interface EngineOptions {
  log: Logger;
  /** Per-action timeout when neither the action nor the provider sets one. */
  timeoutSeconds: number;
  connectTimeoutSeconds: number;
  maxOutputBytes: number;
  maxErrorBytes: number;
  /** Overrides of the providers' default_settings (configuration). */
  settings: Readonly<Record<string, unknown>>;
  env: Readonly<Record<string, string>>;
  passEnv: readonly string[];
  processEnv: Readonly<Record<string, string | undefined>>;
}

export interface StepTrace {
  step: string;
  phase: string;
  ms: number;
  outcome: 'ok' | 'failed' | 'skipped';
}

export interface RunResult {
  result: unknown;
  /** The main target's raw output (stdout or response body), secrets scrubbed. */
  raw: string;
  trace: StepTrace[];
  /** The secrets of the run: its parameters' and those picked up from every step's output. */
  secrets: Secrets;
  /** Parameter and field names declared secret (provider and action secret_params). */
  declared: ReadonlySet<string>;
}

export interface RunOptions {
  /** Values produced by the initialization sequence. */
  initOutputs?: Readonly<Record<string, unknown>>;
  /** Values from a manifest (cloud_properties): below the operator's settings; the bridge checks the keys. */
  manifest?: Readonly<Record<string, unknown>>;
}

interface StepContext {
  where: string;
  late: () => OmniError;
  deadline: number;
  timeoutS: number;
  maxOut: number;
  rules: CompiledErrorRule[];
  base: Record<string, string>;
}

/** A request's body as the HTTP layer takes it: text, a built archive, or a file opened for the upload. */
async function requestBody(req: RenderedRequest, where: string): Promise<{ body?: string | Buffer; bodyFile?: OpenedFile }> {
  if (req.upload?.kind === 'archive') return { body: await packArchive(req.upload.files) };
  if (req.upload?.kind === 'file') return { bodyFile: openBodyFile(req.upload.path, req.upload.maxBytes, where) };
  return req.body !== undefined ? { body: req.body } : {};
}

/** First lines of a text, for messages. */
function excerpt(s: string, max = 400): string {
  const t = s.trim().split('\n').slice(0, 5).join(' | ');
  return truncateText(t, max);
}

function boolParam(v: unknown, name: string): boolean | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v.trim())) return v.trim().toLowerCase() === 'true';
  throw validationError(`param '${name}' must be true or false`, { param: name });
}

/** A derived parameter: the source value (a number, or a number's text) times the factor, rounded. */
function derive(v: unknown, d: { from: string; multiply: number }, where: string, name: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*[+-]?(\d+\.?\d*|\.\d+)\s*$/.test(v) ? Number(v) : NaN;
  const out = Math.round(n * d.multiply);
  if (!Number.isSafeInteger(out)) throw validationError(`${where}: '${d.from}' must be a number to compute '${name}'`, { param: d.from });
  return out;
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class Engine {
  private readonly baseEnvs = new Map<string, Readonly<Record<string, string>>>();

  constructor(
    readonly providers: ReadonlyMap<string, Provider>,
    readonly opts: EngineOptions,
  ) {}

  provider(name: string): Provider {
    const p = this.providers.get(name);
    if (!p) {
      const known = [...this.providers.keys()].join(', ') || 'none';
      throw validationError(`unknown provider '${name}' (loaded: ${known})`, { provider: name });
    }
    return p;
  }

  action(p: Provider, name: string): CompiledAction {
    const a = p.actions.get(name);
    if (!a) throw validationError(`provider '${p.name}' has no action '${name}' (it has: ${[...p.actions.keys()].join(', ')})`, { provider: p.name, action: name });
    return a;
  }

  /** The environment of a provider's commands before a step's own env (see exec/env.ts); built once. */
  baseEnv(p: Provider): Readonly<Record<string, string>> {
    let env = this.baseEnvs.get(p.name);
    if (!env) {
      env = buildEnv({ processEnv: this.opts.processEnv, passEnv: [...p.passEnv, ...this.opts.passEnv], layers: [p.env, this.opts.env] });
      this.baseEnvs.set(p.name, env);
    }
    return env;
  }

  /**
   * The parameters an action runs with, before its steps' own defaults, lowest first: provider
   * defaults, action defaults, the manifest, the operator's settings, initialization outputs, the
   * caller's (the bridge's CIDs and names).
   */
  private mergeParams(p: Provider, a: CompiledAction, caller: Readonly<Record<string, unknown>>, ro: RunOptions): Record<string, unknown> {
    const out: Record<string, unknown> = { ...p.defaults, ...a.defaults, ...ro.manifest, ...this.opts.settings, ...ro.initOutputs };
    for (const [k, v] of Object.entries(caller)) if (v !== undefined) out[k] = v;
    for (const [k, d] of p.derived) if (a.used.has(k)) out[k] = derive(out[d.from], d, `${p.name}.${a.name}`, k);
    return out;
  }

  private secretsFor(p: Provider, a: CompiledAction, params: Readonly<Record<string, unknown>>): { secrets: Secrets; declared: Set<string> } {
    const declared = new Set([...p.secretParams, ...a.secretParams]);
    return { secrets: Secrets.fromParams(params, declared), declared };
  }

  private checkParams(p: Provider, a: CompiledAction, params: Readonly<Record<string, unknown>>): void {
    const missing = a.params.filter((n) => params[n] === undefined || params[n] === null);
    if (missing.length) {
      throw validationError(`${p.name}.${a.name}: missing value${missing.length > 1 ? 's' : ''} for ${missing.map((m) => `'${m}'`).join(', ')}`, { provider: p.name, action: a.name, missing });
    }
    for (const patterns of [p.paramPatterns, a.paramPatterns]) {
      for (const [name, re] of patterns) {
        const v = params[name];
        // A value no template of this action reads reaches nothing: its pattern is not compiled.
        if (v === undefined || v === null || !a.used.has(name)) continue;
        const values = Array.isArray(v) ? v : [v];
        for (const x of values) {
          if (typeof x === 'object' || !re.test(String(x))) {
            throw validationError(`${p.name}.${a.name}: the value of '${name}' does not match ${re.source}`, { provider: p.name, action: a.name, param: name });
          }
        }
      }
    }
  }

  async run(providerName: string, actionName: string, caller: Readonly<Record<string, unknown>>, ro: RunOptions = {}): Promise<RunResult> {
    const p = this.provider(providerName);
    const a = this.action(p, actionName);
    const params = this.mergeParams(p, a, caller, ro);
    const { secrets, declared } = this.secretsFor(p, a, params);
    // The manifest's keys no later layer replaced.
    const later = [this.opts.settings, ro.initOutputs ?? {}, caller];
    const fromManifest = new Set(Object.keys(ro.manifest ?? {}).filter((k) => !later.some((l) => l[k] !== undefined) && !p.derived.some(([d]) => d === k)));
    try {
      this.checkParams(p, a, params);
      return await this.runSteps(p, a, params, secrets, declared, fromManifest);
    } catch (e) {
      throw this.scrubError(e, secrets, declared);
    }
  }

  private scrubError(e: unknown, secrets: Secrets, declared: ReadonlySet<string>): unknown {
    if (!isOmniError(e)) return e;
    const out = new OmniError(e.code, secrets.scrub(e.message), secrets.scrubDeep(e.details, declared) as Record<string, unknown>);
    return out;
  }

  private async runSteps(p: Provider, a: CompiledAction, params: Record<string, unknown>, secrets: Secrets, declared: ReadonlySet<string>, fromManifest: ReadonlySet<string>): Promise<RunResult> {
    // One deadline for the whole action: hooks, the main target and parsing.
    const actionS = a.main.timeoutS ?? p.timeoutS ?? this.opts.timeoutSeconds;
    const deadline = Date.now() + actionS * 1000;
    const outputs: Record<string, unknown> = {};
    const trace: StepTrace[] = [];
    let failure: unknown;
    let result: unknown;
    let raw = '';
    for (const step of a.steps) {
      const started = Date.now();
      // After a failure only clean-up runs, and only clean-up of steps that did run.
      const cleanUp = step.phase === 'post_exec' && (step.always || step.rollback) && step.refs.every((r) => r in outputs);
      if ((failure !== undefined && !cleanUp) || (failure === undefined && step.rollback)) {
        trace.push({ step: step.name, phase: step.phase, ms: 0, outcome: 'skipped' });
        continue;
      }
      const scope: Scope = { params: { ...step.defaults, ...params }, steps: outputs, fromManifest };
      if (step.phase === 'post_exec') scope.result = result;
      try {
        const out = await this.runStep(p, a, step, scope, secrets, { deadline, actionS });
        outputs[step.name] = out.parsed;
        secrets.addFromResult(out.parsed, declared);
        if (step.phase === 'main') {
          result = out.parsed;
          raw = secrets.scrub(out.raw);
        }
        trace.push({ step: step.name, phase: step.phase, ms: Date.now() - started, outcome: 'ok' });
      } catch (e) {
        trace.push({ step: step.name, phase: step.phase, ms: Date.now() - started, outcome: 'failed' });
        const msg = secrets.scrub(e instanceof Error ? e.message : String(e));
        if (failure !== undefined) {
          // A clean-up step after a failure: its own trouble is secondary.
          this.opts.log.warn(`omnicloud ${p.name}.${a.name}: clean-up step ${step.path} failed too: ${msg}`);
        } else if (step.phase !== 'main' && step.onFailure === 'continue') {
          this.opts.log.warn(`omnicloud ${p.name}.${a.name}: step ${step.path} failed and is allowed to: ${msg}`);
        } else failure = e;
      }
    }
    if (failure !== undefined) throw failure;
    return { result, raw, trace, secrets, declared };
  }

  private where(p: Provider, a: CompiledAction, step: CompiledStep): string {
    return step.phase === 'main' ? `${p.name}.${a.name}` : `${p.name}.${a.name} (${step.path})`;
  }

  /** What every step needs to know about its place in the action: names, bounds, error rules. */
  private stepContext(p: Provider, a: CompiledAction, step: CompiledStep, limit: { deadline: number; actionS: number }): StepContext {
    const where = this.where(p, a, step);
    const late = () => new OmniError('TimeoutError', `${where}: the action did not finish within its ${limit.actionS} s`, { provider: p.name, action: a.name, timeout_seconds: limit.actionS });
    const left = (limit.deadline - Date.now()) / 1000;
    if (left <= 0) throw late();
    return {
      where,
      late,
      deadline: limit.deadline,
      timeoutS: Math.min(step.phase === 'main' ? left : (step.timeoutS ?? left), left),
      maxOut: a.maxOutputBytes ?? this.opts.maxOutputBytes,
      rules: [...step.errorRules, ...(step.phase === 'main' ? [] : a.main.errorRules), ...p.errorRules],
      base: { provider: p.name, action: a.name, ...(step.phase === 'main' ? {} : { step: step.path }) },
    };
  }

  private async runStep(p: Provider, a: CompiledAction, step: CompiledStep, scope: Scope, secrets: Secrets, limit: { deadline: number; actionS: number }): Promise<{ parsed: unknown; raw: string }> {
    const ctx = this.stepContext(p, a, step, limit);
    const t = step.target;
    const text = t.kind === 'command' ? await this.runCommand(p, step, t, scope, secrets, ctx) : await this.callEndpoint(p, t, scope, secrets, ctx);
    return { parsed: this.readOutput(p, step, text, scope, ctx), raw: text };
  }

  /** A Command target: its stdout, or the classified failure. */
  private async runCommand(p: Provider, step: CompiledStep, t: Extract<CompiledStep['target'], { kind: 'command' }>, scope: Scope, secrets: Secrets, ctx: StepContext): Promise<string> {
    const { where, base } = ctx;
    const cmd = renderCommand(t.command, scope, where);
    const env = { ...this.baseEnv(p), ...this.renderEnv(step.env, scope, where), ...cmd.env };
    if (this.opts.log.isLevelEnabled('debug')) {
      this.opts.log.debug(`omnicloud: ${where}: running ${cmd.file}`, { argv: [cmd.file, ...cmd.args].map((x) => secrets.scrub(x)), shell: cmd.shell, timeout_seconds: ctx.timeoutS });
    }
    const spec = { file: cmd.file, args: cmd.args, env, timeoutMs: ctx.timeoutS * 1000, maxStdoutBytes: ctx.maxOut, maxStderrBytes: this.opts.maxErrorBytes };
    const cwd = step.cwd && renderSegments(step.cwd, scope, where);
    let r;
    try {
      r = await runProcess(cwd ? { ...spec, cwd } : spec);
    } catch (e) {
      if (isOmniError(e)) {
        e.details['stderr'] = excerpt(String(e.details['stderr'] ?? ''), 2000);
        Object.assign(e.details, base);
        e.message = `${where}: ${e.message}`;
      }
      throw e;
    }
    if (r.exitCode !== 0) {
      const { category, message } = classify({ kind: 'command', exitCode: r.exitCode, stderr: r.stderr, stdout: r.stdout }, ctx.rules);
      const how = r.exitCode === null ? `was killed by ${r.signal}` : `exited with code ${r.exitCode}`;
      const detail = excerpt(r.stderr) || excerpt(r.stdout);
      throw new OmniError(category, `${where}: ${message ?? `'${cmd.file}' ${how}`}${detail ? `: ${detail}` : ''}`, {
        ...base,
        program: cmd.file,
        exit_code: r.exitCode,
        ...(r.signal ? { signal: r.signal } : {}),
        stderr: truncateText(r.stderr, 4000),
        ...(r.stderrTruncated ? { stderr_truncated: true } : {}),
      });
    }
    this.opts.log.debug(`omnicloud: ${where}: exit 0 after ${r.ms} ms`, { stdout_bytes: Buffer.byteLength(r.stdout) });
    return r.stdout;
  }

  /** An Endpoint target: the response body (or the archive member it names), or the classified failure. */
  private async callEndpoint(p: Provider, t: Extract<CompiledStep['target'], { kind: 'endpoint' }>, scope: Scope, secrets: Secrets, ctx: StepContext): Promise<string> {
    const { where, base } = ctx;
    const req = renderEndpoint(t.endpoint, scope, where);
    const verify = t.verifySsl ?? boolParam(scope.params['verify_ssl'], 'verify_ssl') ?? p.verifySsl ?? true;
    if (!verify && req.url.protocol === 'https:') this.opts.log.warn(`omnicloud: ${where}: TLS certificate verification is off for ${req.url.host}`);
    const shown = displayUrl(req.url, req.socketPath);
    this.opts.log.debug(`omnicloud: ${where}: ${req.method} ${secrets.scrub(shown)}`, { timeout_seconds: ctx.timeoutS });
    const body = await requestBody(req, where);
    const res = await request({
      method: req.method,
      url: req.url,
      headers: req.headers,
      ...body,
      ...(req.socketPath ? { socketPath: req.socketPath } : {}),
      verifyTls: verify,
      connectTimeoutMs: (t.connectTimeoutS ?? this.opts.connectTimeoutSeconds) * 1000,
      readTimeoutMs: (t.readTimeoutS ?? ctx.timeoutS) * 1000,
      timeoutMs: ctx.timeoutS * 1000,
      maxBodyBytes: ctx.maxOut,
    }).catch((e: unknown) => {
      if (isOmniError(e)) {
        Object.assign(e.details, base);
        e.message = `${where}: ${e.message}`;
      }
      throw e;
    });
    const ok = (res.status >= 200 && res.status < 300) || t.acceptStatus.includes(res.status);
    if (!ok) {
      const { category, message } = classify({ kind: 'http', status: res.status, body: res.body }, ctx.rules);
      throw new OmniError(category, `${where}: ${message ?? `${req.method} ${secrets.scrub(shown)} answered ${res.status}`}${res.body.trim() ? `: ${excerpt(res.body)}` : ''}`, {
        ...base,
        http_status: res.status,
        url: shown,
        body: truncateText(res.body, 4000),
      });
    }
    this.opts.log.debug(`omnicloud: ${where}: ${res.status} after ${res.ms} ms`, { body_bytes: res.bytes.length });
    return req.archiveMember === undefined ? res.body : archiveMember(res.bytes, req.archiveMember, where);
  }

  /** Parse rules, the deadline, statuses and `expect` over a step's output. */
  private readOutput(p: Provider, step: CompiledStep, text: string, scope: Scope, ctx: StepContext): unknown {
    const { where, base } = ctx;
    let parsed: unknown;
    try {
      parsed = applyRules(step.rules, text, scope, where);
    } catch (e) {
      if (e instanceof ReportedError) {
        const { category, message } = classify({ kind: 'reported', text: e.reported }, ctx.rules);
        throw new OmniError(category, `${where}: ${message ?? e.message}`, { ...base, output: excerpt(text, 1000) });
      }
      if (isOmniError(e)) {
        e.message = `${where}: ${e.message}`;
        Object.assign(e.details, base, { output: excerpt(text, 1000) });
      }
      throw e;
    }
    if (Date.now() > ctx.deadline) throw ctx.late();
    if (p.status) {
      const s = applyStatusMap(p.status, parsed);
      parsed = s.result;
      for (const raw of new Set(s.unmapped)) this.opts.log.warn(`omnicloud: ${where}: status '${truncateText(raw, 40)}' has no entry in status_map`);
    }
    for (const [field, want] of Object.entries(step.expect ?? {})) {
      const got = parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>)[field] : undefined;
      if (!deepEqual(got, want)) {
        throw providerError(`${where}: expected ${field} = ${JSON.stringify(want)}, got ${got === undefined ? 'nothing' : truncateText(JSON.stringify(got), 80)}`, { ...base, field });
      }
    }
    return parsed;
  }

  private renderEnv(env: CompiledStep['env'], scope: Scope, where: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, segs] of env) out[k] = renderSegments(segs, scope, where);
    return out;
  }
}
