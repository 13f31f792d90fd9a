/**
 * What must hold before a provider is used, and the standardization's initialization sequence.
 *
 * - `validation.required_commands` are looked up on the PATH the commands will run with;
 *   `validation.version_requirements` are semver ranges checked against the version `test_install`
 *   reports (when it runs that program, or when there is a single requirement) or else the first
 *   version number `<command> --version` prints. Every failure is listed in one ValidationError.
 * - The initialization sequence (§8: initialize_cli → configure_auth → test_auth → test_install,
 *   those the provider defines) runs on demand; its outputs become parameters of later actions.
 *
 * Every CPI call is a new process, so successes are cached in a file (per provider file content,
 * PATH and environment) for `cache_seconds`; an initialization whose outputs include a secret
 * (a token from configure_auth) is cached in memory only.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Engine } from './engine';
import { OmniError, validationError } from './errors';
import { isExecutableFile, onPath } from './exec/env';
import { runProcess } from './exec/process';
import type { Provider } from './provider/model';
import { isSecretName } from './secrets';
import { readJson, writeJson } from './cache-files';

const INIT_SEQUENCE = ['initialize_cli', 'configure_auth', 'test_auth', 'test_install'] as const;

const BAD_AUTH = new Set(['unauthenticated', 'expired', 'invalid', 'insufficient_permissions', 'false', 'no']);

export interface CacheOptions {
  dir?: string;
  seconds: number;
}

interface CacheEntry {
  at: number;
  outputs?: Record<string, unknown>;
}

function cacheFile(c: CacheOptions, kind: string, key: string): string | undefined {
  if (!c.dir || c.seconds <= 0) return undefined;
  return path.join(c.dir, `${kind}-${key}.json`);
}

function readCache(file: string | undefined, seconds: number): CacheEntry | undefined {
  const e = file ? (readJson(file) as CacheEntry | undefined) : undefined;
  return e && typeof e.at === 'number' && Date.now() - e.at < seconds * 1000 ? e : undefined;
}

function writeCache(file: string | undefined, entry: CacheEntry): void {
  if (file) writeJson(file, entry);
}

/** semver, loaded only where a version is compared (a validation the cache did not answer). */
function semver() {
  return {
    parse: require('semver/functions/parse') as typeof import('semver/functions/parse'),
    coerce: require('semver/functions/coerce') as typeof import('semver/functions/coerce'),
    satisfies: require('semver/functions/satisfies') as typeof import('semver/functions/satisfies'),
  };
}

function versionIn(text: string): string | undefined {
  return /\d+\.\d+(?:\.\d+)?(?:-[0-9A-Za-z.-]+)?/.exec(text)?.[0];
}

/** Path, size and mtime of every program the validation names, as found on PATH. */
function binaries(p: Provider, pathVar: string): Array<[string, string | null, number, number]> {
  const names = [...new Set([...p.validation.requiredCommands, ...p.validation.versionRequirements.map(([c]) => c)])];
  return names.map((n) => {
    const at = onPath(n, pathVar, isExecutableFile) ?? null;
    let st: fs.Stats | undefined;
    try {
      st = at ? fs.statSync(at) : undefined;
    } catch {
      /* gone meanwhile */
    }
    return [n, at, st?.size ?? -1, st?.mtimeMs ?? -1];
  });
}

export class Preflight {
  private readonly validated = new Set<string>();
  private readonly initialized = new Map<string, Record<string, unknown>>();

  constructor(
    private readonly engine: Engine,
    private readonly cache: CacheOptions,
  ) {}

  private key(p: Provider, extra: unknown): string {
    return createHash('sha256').update(JSON.stringify([p.digest, this.engine.baseEnv(p), extra])).digest('hex').slice(0, 32);
  }

  /** Checks `validation`; throws one ValidationError listing every failure. */
  async validate(p: Provider): Promise<void> {
    const v = p.validation;
    if (this.validated.has(p.name) || (!v.requiredCommands.length && !v.versionRequirements.length)) return;
    // Keyed by the binaries too: an upgraded or replaced program is checked again.
    const file = cacheFile(this.cache, `validation-${p.name}`, this.key(p, binaries(p, this.engine.baseEnv(p)['PATH'] as string)));
    if (readCache(file, this.cache.seconds)) {
      this.validated.add(p.name);
      return;
    }
    const env = this.engine.baseEnv(p);
    const failures: string[] = [];
    const missing = new Set<string>();
    for (const cmd of v.requiredCommands) {
      if (!onPath(cmd, env['PATH'] as string, isExecutableFile)) {
        failures.push(`required command '${cmd}' is not on PATH`);
        missing.add(cmd);
      }
    }
    let reported: string | undefined;
    const testInstall = p.actions.get('test_install');
    const useTestInstall = (cmd: string) => {
      if (!testInstall) return false;
      if (v.versionRequirements.length === 1) return true;
      const t = testInstall.main.target;
      const first = t.kind === 'command' && t.command.mode === 'argv' ? t.command.words[0] : undefined;
      const prog = first?.length === 1 && first[0]?.kind === 'text' ? path.basename(first[0].text) : undefined;
      return prog === cmd;
    };
    for (const [cmd, range] of v.versionRequirements) {
      if (missing.has(cmd)) continue;
      let version: string | undefined;
      try {
        if (useTestInstall(cmd)) {
          if (reported === undefined) {
            const r = await this.engine.run(p.name, 'test_install', {});
            const o = r.result as Record<string, unknown> | string;
            reported = typeof o === 'string' ? versionIn(o) ?? '' : typeof o?.['version'] === 'string' ? (o['version'] as string) : versionIn(JSON.stringify(o)) ?? '';
          }
          version = reported || undefined;
        } else {
          const r = await runProcess({ file: cmd, args: ['--version'], env, timeoutMs: 15000, maxStdoutBytes: 65536, maxStderrBytes: 65536 });
          version = versionIn(`${r.stdout}\n${r.stderr}`);
        }
      } catch (e) {
        failures.push(`cannot determine the version of '${cmd}': ${e instanceof Error ? e.message : String(e)}`);
        continue;
      }
      // A full semver (prerelease included: 2.0.0-rc1 < 2.0.0) as it is; else the numbers in it.
      const { parse, coerce, satisfies } = semver();
      const sv = version ? (parse(version) ?? coerce(version)) : null;
      if (!sv) failures.push(`cannot determine the version of '${cmd}'`);
      else if (!satisfies(sv, range, { includePrerelease: true })) failures.push(`'${cmd}' ${version} does not satisfy ${range}`);
    }
    if (failures.length) {
      throw validationError(`provider '${p.name}' cannot run here: ${failures.join('; ')}`, { provider: p.name, failures });
    }
    writeCache(file, { at: Date.now() });
    this.validated.add(p.name);
  }

  /** Runs the initialization sequence once; returns its outputs (parameters for later actions). */
  async initialize(p: Provider, caller: Readonly<Record<string, unknown>> = {}): Promise<Record<string, unknown>> {
    const memo = this.initialized.get(p.name);
    if (memo) return memo;
    const steps = INIT_SEQUENCE.filter((s) => p.actions.has(s));
    const settingsKey = this.key(p, [steps, this.engine.opts.settings, caller]);
    const file = cacheFile(this.cache, `init-${p.name}`, settingsKey);
    const cached = readCache(file, this.cache.seconds);
    if (cached?.outputs) {
      this.initialized.set(p.name, cached.outputs);
      return cached.outputs;
    }
    const outputs: Record<string, unknown> = {};
    for (const action of steps) {
      const r = await this.engine.run(p.name, action, caller, { initOutputs: outputs });
      const o = r.result;
      if (o !== null && typeof o === 'object' && !Array.isArray(o)) {
        const rec = o as Record<string, unknown>;
        if (rec['success'] === false) throw new OmniError('ProviderError', `${p.name}.${action} reported no success`, { provider: p.name, action });
        if (action === 'test_auth') {
          const a = rec['authenticated'] ?? rec['status'];
          if (a === false || (typeof a === 'string' && BAD_AUTH.has(a.toLowerCase()))) {
            throw new OmniError('AuthenticationError', `${p.name}.test_auth: not authenticated (${String(a)})`, { provider: p.name, action });
          }
        }
        // Outputs feed later actions, except bookkeeping fields.
        for (const [k, v] of Object.entries(rec)) if (k !== 'success' && !k.startsWith('raw_')) outputs[k] = v;
      }
    }
    const hasSecret = Object.keys(outputs).some((k) => isSecretName(k, p.secretParams));
    if (!hasSecret) writeCache(file, { at: Date.now(), outputs });
    this.initialized.set(p.name, outputs);
    return outputs;
  }
}
