/**
 * Loads provider files: every `*.json` of a directory, in sorted order. A file that fails — bad
 * JSON, a schema problem, a template that cannot run safely, a placeholder that is not declared, a
 * duplicate provider name — is not registered, and its error names the file, the JSON path and
 * the problem. Loading is deterministic: for a duplicate name the first file in sorted order wins
 * and the later one is the error.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseJson } from '../../runtime/json';
import { compileErrorRule, type CompiledErrorRule } from '../classify';
import { ProviderLoadError } from '../errors';
import type { JsonField } from '../parse/json';
import { LinearRegex } from '../parse/linear';
import { compileRegex, splitInlineFlags } from '../parse/regex';
import type { CompiledPattern, CompiledRules, Fields } from '../parse/rules';
import { statusMapping } from '../status';
import { commandPlaceholders, compileCommand, type ShellAnalyser } from '../template/command';
import { CachedAnalyser } from '../template/analysis-cache';
import { bodyArgvs, compileEndpoint, endpointPlaceholders, type CompiledEndpoint, type EndpointSpec } from '../template/endpoint';
import { analyseCall } from '../template/code-positions';
import { parseTemplate } from '../template/placeholders';
import { problemText, TemplateSyntaxError } from '../template/shell';
import { methodMapProblems } from '../bridge/methods';
import { providerProblems } from './issues';
import { isSecretName } from '../secrets';
import type { CompiledAction, CompiledStep, CompiledTarget, Phase, Provider } from './model';
import { HTTP_METHODS } from './model';
import type { Action, ErrorRule, ParseRules, Pattern, ProviderFile, Step } from './schema';
import { LazyActions } from './lazy-actions';

/** The zod schema of provider files, built only by the loads that check a file (see compileProvider). */
function schema(): typeof import('./schema') {
  return require('./schema') as typeof import('./schema');
}

class Problems {
  /** `checked`: the file passed every check before (a verified cache): compile, do not check again. */
  constructor(
    readonly analyser: ShellAnalyser,
    readonly checked = false,
  ) {}
  readonly list: string[] = [];
  readonly warnings: string[] = [];
  add(where: string, what: string): void {
    this.list.push(`${where}: ${what}`);
  }
  /** Runs a compile step, turning template and regex errors into problems at `where`. */
  try<T>(where: string, f: () => T): T | undefined {
    try {
      return f();
    } catch (e) {
      if (e instanceof TemplateSyntaxError || e instanceof SyntaxError) this.add(where, e.message);
      else throw e;
      return undefined;
    }
  }
}

function compilePattern(p: Pattern & { match_value?: string }, declared: ReadonlySet<string>, where: string, pr: Problems): CompiledPattern | undefined {
  const regex = pr.try(`${where}.regex`, () => compileRegex({ regex: p.regex, ...(p.flags !== undefined ? { flags: p.flags } : {}) }, declared, pr.checked));
  if (!regex) return undefined;
  const out: CompiledPattern = { regex, optional: p.optional === true };
  if (p.group !== undefined) out.group = p.group;
  if (p.transform !== undefined) out.transform = p.transform;
  if (p.default !== undefined) out.default = p.default;
  if (p.match_value !== undefined) out.matchValue = p.match_value;
  if (regex.fixed && regex.groups !== undefined) {
    const groups = regex.groups;
    if (typeof p.group === 'number' && p.group > groups) pr.add(`${where}.group`, `is ${p.group} but the regex has ${groups} capture group(s)`);
    // With several groups the default (group 1) is a guess: the seed's `Disk-(\d+)-Size` beside a
    // second group silently returned the index.
    if (p.group === undefined && groups > 1) pr.add(`${where}.group`, `the regex has ${groups} capture groups: say which one holds the value (group: 1, 2, … or a group name)`);
    if (p.transform === 'boolean' && (p.group ?? (groups > 0 ? 1 : 0)) === 0 && regex.fixed.test('')) {
      pr.warnings.push(`${where}: this boolean pattern matches any output, so it is always true`);
    }
  }
  return out;
}

function compileFields(patterns: Record<string, Pattern> | undefined, declared: ReadonlySet<string>, where: string, pr: Problems): Fields {
  const out: Fields = [];
  for (const [name, p] of Object.entries(patterns ?? {})) {
    const c = compilePattern(p, declared, `${where}.${name}`, pr);
    if (c) out.push([name, c]);
  }
  return out;
}

function compileRules(r: ParseRules, declared: ReadonlySet<string>, where: string, pr: Problems): CompiledRules | undefined {
  switch (r.type) {
    case 'object':
      return { type: 'object', patterns: compileFields(r.patterns, declared, `${where}.patterns`, pr) };
    case 'array': {
      const separator = pr.try(`${where}.separator`, () => compileRegex({ regex: r.separator ?? '\\n' }, declared, pr.checked));
      if (!separator) return undefined;
      return { type: 'array', separator, patterns: compileFields(r.patterns, declared, `${where}.patterns`, pr), headerLines: r.header_lines ?? 0, footerLines: r.footer_lines ?? 0 };
    }
    case 'properties': {
      const arrays: Array<[string, { line: LinearRegex; indexGroup: number; object: Fields }]> = [];
      for (const [key, ap] of Object.entries(r.array_patterns ?? {})) {
        const w = `${where}.array_patterns.${key}`;
        const compiled = pr.try(w, () => {
          const prefixGroups = LinearRegex.compile(ap.prefix).groups;
          return { line: LinearRegex.compile(`^\\s*(?:${ap.prefix})[-_.:\\s]*(${ap.index})`), indexGroup: prefixGroups + 1 };
        });
        if (compiled) arrays.push([key, { ...compiled, object: compileFields(ap.object, declared, `${w}.object`, pr) }]);
      }
      if (r.array_key !== undefined && !(r.array_patterns ?? {})[r.array_key]) pr.add(`${where}.array_key`, `'${r.array_key}' is not one of the array_patterns`);
      const related: Fields = [];
      for (const [name, p] of Object.entries(r.related_patterns ?? {})) {
        const c = compilePattern(p, declared, `${where}.related_patterns.${name}`, pr);
        if (c) related.push([name, c]);
      }
      const out: CompiledRules = { type: 'properties', patterns: compileFields(r.patterns, declared, `${where}.patterns`, pr), arrays, related };
      if (r.array_key !== undefined) out.arrayKey = r.array_key;
      return out;
    }
    case 'json': {
      const out: CompiledRules = { type: 'json', lines: r.lines === true };
      if (r.items !== undefined) out.items = r.items;
      if (r.error_pointer !== undefined) out.errorPointer = r.error_pointer;
      if (r.fields) {
        out.fields = Object.entries(r.fields).map(([name, f]): [string, JsonField] => {
          if (typeof f === 'string') return [name, { pointer: f, optional: false }];
          const jf: JsonField = { pointer: f.pointer, optional: f.optional === true };
          if (f.default !== undefined) jf.default = f.default;
          if (f.transform !== undefined) jf.transform = f.transform;
          return [name, jf];
        });
      }
      return out;
    }
    case 'text':
      return { type: 'text', trim: r.trim !== false };
  }
}

type RawStep = Step | (Action & { name?: string; on_failure?: 'abort' | 'continue'; always?: boolean; rollback?: boolean });

function compileTarget(s: RawStep, where: string, pr: Problems): CompiledTarget | undefined {
  if ((s.target === undefined) === (s.command === undefined)) {
    pr.add(where, 'needs exactly one of target or command');
    return undefined;
  }
  if (s.command !== undefined) {
    const command = pr.try(`${where}.command`, () => compileCommand(s.command as string, {}, pr.analyser));
    return command && { kind: 'command', command };
  }
  const t = s.target as NonNullable<RawStep['target']>;
  if (t.Command !== undefined) {
    const spec = typeof t.Command === 'string' ? { command: t.Command } : t.Command;
    const opts = typeof t.Command === 'string' || t.Command.shell === undefined ? {} : { shell: t.Command.shell };
    const command = pr.try(`${where}.target.Command`, () => compileCommand(spec.command, opts, pr.analyser));
    return command && { kind: 'command', command };
  }
  const ep = t.Endpoint as NonNullable<typeof t.Endpoint>;
  const method = typeof ep.method === 'string' ? HTTP_METHODS[ep.method] : ep.method.Custom.toUpperCase();
  const { url, headers, body, body_file, max_body_bytes, body_archive, response_archive_member, unix_socket } = ep;
  const spec = { url, method, headers, body, body_file, max_body_bytes, body_archive, response_archive_member, unix_socket };
  const endpoint = pr.try(`${where}.target.Endpoint`, () => compileEndpoint(spec as EndpointSpec));
  if (!endpoint) return undefined;
  if (!pr.checked) checkBodyArgvs(endpoint, `${where}.target.Endpoint.body`, pr);
  const out: CompiledTarget = { kind: 'endpoint', endpoint, acceptStatus: ep.accept_status ?? [] };
  if (ep.verify_ssl !== undefined) out.verifySsl = ep.verify_ssl;
  if (ep.connect_timeout_seconds !== undefined) out.connectTimeoutS = ep.connect_timeout_seconds;
  if (ep.read_timeout_seconds !== undefined) out.readTimeoutS = ep.read_timeout_seconds;
  return out;
}

/** Arrays in a JSON body that are argv (`"Cmd": ["sh", "-c", …]`): the same code positions as a command's. */
function checkBodyArgvs(endpoint: CompiledEndpoint, where: string, pr: Problems): void {
  for (const words of bodyArgvs(endpoint)) {
    const r = analyseCall(words, false);
    const problems = [...r.problems, ...r.nested.flatMap((n) => pr.analyser.script(n.code, n.lang, n.positional))];
    if (problems.length) pr.add(where, problems.map(problemText).join('; '));
  }
}

interface StepContext {
  phase: Phase;
  where: string;
  name: string;
  actionParams: readonly string[];
  earlier: readonly string[];
}

function checkPlaceholders(names: readonly string[], declared: ReadonlySet<string>, ctx: StepContext, where: string, pr: Problems): void {
  for (const n of names) {
    const [head, second] = n.split('.');
    if (head === 'steps') {
      if (second === undefined) pr.add(where, `placeholder {${n}} must name a step: {steps.<step>.<field>}`);
      else if (!ctx.earlier.includes(second)) pr.add(where, `placeholder {${n}} refers to step '${second}', which does not run before this one`);
    } else if (head === 'result') {
      if (ctx.phase !== 'post_exec') pr.add(where, `placeholder {${n}} is only available in post_exec steps`);
    } else if (!declared.has(head as string)) {
      pr.add(where, `placeholder {${n}} is not declared in params`);
    }
  }
}

function compileStep(s: RawStep, ctx: StepContext, pr: Problems): CompiledStep | undefined {
  const declared = new Set([...ctx.actionParams, ...(s.params ?? [])]);
  const target = compileTarget(s, ctx.where, pr);
  const rules = s.parse_rules && compileRules(s.parse_rules, declared, `${ctx.where}.parse_rules`, pr);
  const env = Object.entries(s.env ?? {}).map(([k, v]): [string, ReturnType<typeof parseTemplate>] => [k, parseTemplate(v)]);
  const cwd = s.cwd === undefined ? undefined : parseTemplate(s.cwd);
  const refs = new Set<string>();
  if (target) {
    const names = target.kind === 'command' ? commandPlaceholders(target.command) : endpointPlaceholders(target.endpoint);
    checkPlaceholders(names, declared, ctx, `${ctx.where}.${s.command !== undefined ? 'command' : 'target'}`, pr);
    for (const n of names) {
      const [head, second] = n.split('.');
      if (head === 'steps' && second) refs.add(second);
      if (head === 'result') refs.add('main');
    }
  }
  for (const [k, segs] of env) checkPlaceholders(segs.filter((x) => x.kind === 'param').map((x) => (x as { name: string }).name), declared, ctx, `${ctx.where}.env.${k}`, pr);
  if (cwd) checkPlaceholders(cwd.filter((x) => x.kind === 'param').map((x) => (x as { name: string }).name), declared, ctx, `${ctx.where}.cwd`, pr);
  const step = s as Step;
  if (step.always && ctx.phase !== 'post_exec') pr.add(`${ctx.where}.always`, 'only post_exec steps can run always');
  if (step.rollback && ctx.phase !== 'post_exec') pr.add(`${ctx.where}.rollback`, 'only post_exec steps can be a rollback');
  if (step.rollback && step.always) pr.add(`${ctx.where}.rollback`, 'a rollback runs only after a failure: it cannot be always too');
  const errorRules = compileErrorRules(s.error_rules, `${ctx.where}.error_rules`, pr);
  if (!target) return undefined;
  const out: CompiledStep = {
    name: ctx.name,
    phase: ctx.phase,
    path: ctx.where,
    target,
    params: [...declared],
    refs: [...refs],
    defaults: s.default_settings ?? {},
    env,
    errorRules,
    onFailure: step.on_failure ?? (ctx.phase === 'pre_delete' ? 'continue' : 'abort'),
    always: step.always === true,
    rollback: step.rollback === true,
  };
  if (rules) out.rules = rules;
  if (s.timeout_seconds !== undefined) out.timeoutS = s.timeout_seconds;
  if (cwd) out.cwd = cwd;
  if (s.expect) out.expect = s.expect;
  return out;
}

function compileErrorRules(rules: readonly ErrorRule[] | undefined, where: string, pr: Problems): CompiledErrorRule[] {
  const out: CompiledErrorRule[] = [];
  (rules ?? []).forEach((r, i) => {
    const c = pr.try(`${where}[${i}].pattern`, () => compileErrorRule(r, pr.checked));
    if (c) out.push(c);
  });
  return out;
}

function compilePatterns(p: Record<string, string> | undefined, where: string, pr: Problems): Map<string, LinearRegex> {
  const out = new Map<string, LinearRegex>();
  for (const [k, src] of Object.entries(p ?? {})) {
    // The schema accepts a leading inline group such as (?i): it becomes a flag here too. No other
    // flag is added: ^ and $ must anchor the whole value, not a line of it.
    const re = pr.try(`${where}.${k}`, () => {
      const { source, flags } = splitInlineFlags(src, '');
      return pr.checked ? LinearRegex.deferred(source, flags) : LinearRegex.compile(source, flags);
    });
    if (re) out.set(k, re);
  }
  return out;
}

function compileAction(name: string, a: Action, pr: Problems, providerOverridable: readonly string[] | undefined): CompiledAction | undefined {
  const where = `actions.${name}`;
  const params = a.params ?? [];
  const steps: CompiledStep[] = [];
  const earlier: string[] = [];
  let ok = true;
  let main: CompiledStep | undefined;
  const phases: Array<[Phase, ReadonlyArray<string | Step> | undefined]> = [
    ['pre_delete', a.pre_delete],
    ['pre_exec', a.pre_exec],
    ['main', undefined],
    ['post_exec', a.post_exec],
  ];
  for (const [phase, hooks] of phases) {
    if (phase === 'main') {
      main = compileStep(a, { phase, where, name: 'main', actionParams: params, earlier }, pr);
      if (main) steps.push(main);
      else ok = false;
      earlier.push('main');
      continue;
    }
    (hooks ?? []).forEach((h, i) => {
      const raw: Step = typeof h === 'string' ? { command: h } : h;
      const stepName = raw.name ?? `${phase}_${i}`;
      const w = `${where}.${phase}[${i}]`;
      if (earlier.includes(stepName)) pr.add(`${w}.name`, `step name '${stepName}' is used twice`);
      const c = compileStep(raw, { phase, where: w, name: stepName, actionParams: params, earlier: [...earlier] }, pr);
      if (c) steps.push(c);
      else ok = false;
      earlier.push(stepName);
    });
  }
  const dup = params.filter((x, i) => params.indexOf(x) !== i);
  if (dup.length) pr.add(`${where}.params`, `${[...new Set(dup)].map((x) => `'${x}'`).join(', ')} listed twice`);
  const patterns = compilePatterns(a.param_patterns, `${where}.param_patterns`, pr);
  for (const k of patterns.keys()) if (!params.includes(k)) pr.add(`${where}.param_patterns.${k}`, `'${k}' is not declared in params`);
  for (const k of a.secret_params ?? []) if (!params.includes(k)) pr.add(`${where}.secret_params`, `'${k}' is not declared in params`);
  const overridable = new Set([...(providerOverridable ?? []), ...(a.overridable ?? [])]);
  for (const st of steps) {
    const up = st.target.kind === 'endpoint' ? st.target.endpoint.upload : undefined;
    // A manifest must never choose which local file is uploaded.
    if (up?.kind === 'file' && overridable.has(up.param)) pr.add(`${st.path}.target.Endpoint.body_file`, `{${up.param}} names the file to upload, so it cannot be overridable`);
  }
  for (const k of a.overridable ?? []) if (isSecretName(k, new Set(a.secret_params ?? []))) pr.add(`${where}.overridable`, `'${k}' is a secret: a manifest can never set it`);
  if (!ok || !main) return undefined;
  const out: CompiledAction = {
    name,
    params,
    used: new Set(steps.flatMap((st) => st.params)),
    defaults: a.default_settings ?? {},
    secretParams: new Set(a.secret_params ?? []),
    paramPatterns: patterns,
    overridable,
    steps,
    main,
  };
  if (a.max_output_bytes !== undefined) out.maxOutputBytes = a.max_output_bytes;
  return out;
}

export interface LoadOptions {
  /** Where the shell analysis of provider files is cached (analysis-cache.ts); none: analyse every time. */
  cacheDir?: string;
}

/**
 * Compiles a provider file. The first load of a file's content checks everything — the schema,
 * every template, regex and reference — and, when nothing is wrong, records in the cache that the
 * file is verified. Later loads of the same content (the same engine too, see analysis-cache.ts)
 * skip those checks and compile an action only when it is first used, its regexes only when
 * first matched: a call pays for the action it runs, not for the whole file.
 */
export function compileProvider(raw: unknown, file: string, digest: string, opts: LoadOptions = {}): Provider {
  const analyser = CachedAnalyser.forFile(opts.cacheDir, digest);
  if (analyser.verified) return verifiedProvider(raw as ProviderFile, file, digest, analyser, analyser.verified.warnings);
  const parsed = schema().Provider.safeParse(raw);
  if (!parsed.success) throw new ProviderLoadError(file, providerProblems(parsed.error.issues, raw));
  const p: ProviderFile = parsed.data;
  const pr = new Problems(analyser);
  const actions = new Map<string, CompiledAction>();
  for (const [name, a] of Object.entries(p.actions)) {
    const c = compileAction(name, a, pr, p.overridable);
    if (c) actions.set(name, c);
  }
  const methodMap = p.bosh?.method_map ?? {};
  for (const e of methodMapProblems(methodMap, (a) => Object.prototype.hasOwnProperty.call(p.actions, a))) {
    pr.add(`bosh.method_map.${e.method}`, e.kind === 'method' ? `'${e.method}' is not a BOSH CPI method` : `action '${e.action}' is not defined`);
  }
  for (const k of p.overridable ?? []) if (isSecretName(k, new Set(p.secret_params ?? []))) pr.add('overridable', `'${k}' is a secret: a manifest can never set it`);
  for (const [k, d] of Object.entries(p.derived_params ?? {})) {
    if (p.derived_params?.[d.from]) pr.add(`derived_params.${k}.from`, `'${d.from}' is derived itself: derive from a parameter that is set`);
    const settable = [...(p.overridable ?? []), ...Object.values(p.actions).flatMap((a) => a.overridable ?? [])];
    if (settable.includes(k)) pr.add(`derived_params.${k}`, `'${k}' is computed from '${d.from}', so it cannot be overridable (make '${d.from}' overridable)`);
  }
  const validRange = require('semver/ranges/valid') as typeof import('semver/ranges/valid');
  for (const [cmd, range] of Object.entries(p.validation?.version_requirements ?? {})) if (validRange(range) === null) pr.add(`validation.version_requirements.${cmd}`, 'is not a valid semver range');
  const provider = assemble(p, file, digest, actions, pr);
  if (pr.list.length) {
    analyser.save();
    throw new ProviderLoadError(file, pr.list);
  }
  analyser.markVerified(pr.warnings);
  analyser.save();
  return provider;
}

/** A file verified before: actions compile on first use (a problem then is one the cache missed). */
function verifiedProvider(p: ProviderFile, file: string, digest: string, analyser: CachedAnalyser, warnings: readonly string[]): Provider {
  const pr = new Problems(analyser, true);
  const actions = new LazyActions(p.actions, (name, a) => {
    const c = compileAction(name, a, pr, p.overridable);
    analyser.save();
    if (!c || pr.list.length) throw new ProviderLoadError(file, pr.list.length ? pr.list : [`actions.${name}: does not compile`]);
    return c;
  });
  const provider = assemble(p, file, digest, actions, pr);
  if (pr.list.length) throw new ProviderLoadError(file, pr.list);
  provider.warnings = warnings;
  return provider;
}

function assemble(p: ProviderFile, file: string, digest: string, actions: ReadonlyMap<string, CompiledAction>, pr: Problems): Provider {
  const provider: Provider = {
    name: p.name,
    type: p.type,
    file,
    digest,
    defaults: p.default_settings ?? {},
    actions,
    validation: { requiredCommands: p.validation?.required_commands ?? [], versionRequirements: Object.entries(p.validation?.version_requirements ?? {}) },
    errorRules: compileErrorRules(p.error_rules, 'error_rules', pr),
    secretParams: new Set(p.secret_params ?? []),
    paramPatterns: compilePatterns(p.param_patterns, 'param_patterns', pr),
    env: p.env ?? {},
    passEnv: p.pass_env ?? [],
    methodMap: p.bosh?.method_map ?? {},
    derived: Object.entries(p.derived_params ?? {}),
    warnings: pr.warnings,
  };
  const status = statusMapping(p.status_map, p.status_fields);
  if (status) provider.status = status;
  if (p.timeout_seconds !== undefined) provider.timeoutS = p.timeout_seconds;
  if (p.verify_ssl !== undefined) provider.verifySsl = p.verify_ssl;
  return provider;
}

/** A provider file's text and parsed JSON; throws ProviderLoadError naming the file. */
function readProviderFile(file: string): { text: string; raw: unknown } {
  let text: string;
  try {
    // A UTF-8 byte order mark (editors on Windows write one) is not JSON: tolerated.
    text = fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  } catch (e) {
    throw new ProviderLoadError(file, [`cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  try {
    return { text, raw: parseJson(text) };
  } catch (e) {
    throw new ProviderLoadError(file, [`is not valid JSON: ${(e as Error).message}`]);
  }
}

function compileText(text: string, raw: unknown, file: string, opts: LoadOptions): Provider {
  return compileProvider(raw, file, createHash('sha256').update(text).digest('hex'), opts);
}

export function loadProviderFile(file: string, opts: LoadOptions = {}): Provider {
  const { text, raw } = readProviderFile(file);
  return compileText(text, raw, file, opts);
}

export interface LoadResult {
  dir: string;
  providers: Map<string, Provider>;
  errors: ProviderLoadError[];
}

/** The `*.json` files of a provider directory, in sorted order. */
function providerFiles(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => path.join(dir, f));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ProviderLoadError(dir, [code === 'ENOENT' ? 'the provider directory does not exist' : `the provider directory cannot be read (${code})`]);
  }
}

export function loadProviderDir(dir: string, opts: LoadOptions = {}): LoadResult {
  const providers = new Map<string, Provider>();
  const errors: ProviderLoadError[] = [];
  for (const file of providerFiles(dir)) {
    try {
      if (!fs.statSync(file).isFile()) continue;
      const p = loadProviderFile(file, opts);
      const first = providers.get(p.name);
      if (first) {
        errors.push(new ProviderLoadError(file, [`name: provider name '${p.name}' is already defined by ${path.basename(first.file)}`]));
        continue;
      }
      providers.set(p.name, p);
    } catch (e) {
      if (e instanceof ProviderLoadError) errors.push(e);
      else throw e;
    }
  }
  return { dir, providers, errors };
}

/**
 * One provider of a directory, by name, as loadProviderDir would register it — the first file in
 * sorted order with that name that compiles — without compiling the other files: every BOSH call
 * uses one provider. `errors` holds the files that failed on the way (unreadable, not JSON, or of
 * that name but not compiling). When no file provides the name, this is loadProviderDir's result,
 * so the caller can say what the directory does hold.
 */
export function loadNamedProvider(dir: string, name: string, opts: LoadOptions = {}): LoadResult {
  const errors: ProviderLoadError[] = [];
  for (const file of providerFiles(dir)) {
    try {
      if (!fs.statSync(file).isFile()) continue;
      const { text, raw } = readProviderFile(file);
      if (raw === null || typeof raw !== 'object' || (raw as { name?: unknown }).name !== name) continue;
      return { dir, providers: new Map([[name, compileText(text, raw, file, opts)]]), errors };
    } catch (e) {
      if (e instanceof ProviderLoadError) errors.push(e);
      else throw e;
    }
  }
  return loadProviderDir(dir, opts);
}
