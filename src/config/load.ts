/**
 * Where the configuration comes from, in order of precedence (highest last):
 *
 * 1. built-in defaults that work on a developer box (DOCKER_HOST or the local socket);
 * 2. the config file: `-configPath FILE` (what the job's bin/cpi passes), `--config FILE`, or
 *    the BOSH_CPI_CONFIG environment variable for hand use;
 * 3. the request's context keys other than director_uuid/request_id/vm (Director cpi-config);
 * 4. BOSH_CPI_LOG_LEVEL, for debugging one call by hand.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isLevelName, LEVEL_NAMES } from '../log/logger';
import { DIRECTOR_CONTEXT_KEYS } from '../rpc/context';
import { CpiError } from '../rpc/errors';
import { formatIssues } from '../runtime/issues';
import { JsonSyntaxError, parseJson } from '../runtime/json';
import { CONFIG_ENV, LOG_LEVEL_ENV, STATE_DIR_ENV } from './env';
import { canonicalizeKeys, deepMerge, isPlainObject, liftLegacyShapes } from './normalize';
import { Config } from './schema';

type Env = Readonly<Record<string, string | undefined>>;

export interface LoadedConfig {
  config: Config;
  /** Context keys that were not configuration and were ignored. */
  ignoredContextKeys: string[];
}

function canWrite(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** A state directory on this machine that later calls find again. */
function defaultStateDir(env: Env): string {
  if (env[STATE_DIR_ENV]) return env[STATE_DIR_ENV] as string;
  if (canWrite('/var/vcap/data')) return '/var/vcap/data/docker_cpi';
  // HOME is shared into Docker Desktop's VM, /tmp is not; the Director sets HOME, `env -i` does not.
  if (env['HOME'] && env['HOME'] !== '/' && canWrite(env['HOME'])) return path.join(env['HOME'], '.bosh-container-cpi');
  return path.join(os.tmpdir(), `bosh-container-cpi-${process.getuid?.() ?? 'user'}`);
}

function defaultDockerTls(env: Env): Record<string, string> | undefined {
  const certPath = env['DOCKER_CERT_PATH'];
  if (!certPath || !env['DOCKER_TLS_VERIFY']) return undefined;
  const read = (f: string) => fs.readFileSync(path.join(certPath, f), 'utf8');
  try {
    return { ca: read('ca.pem'), certificate: read('cert.pem'), private_key: read('key.pem') };
  } catch (e) {
    throw new CpiError(`DOCKER_CERT_PATH ${certPath}: cannot read ca.pem, cert.pem and key.pem (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function defaults(env: Env, withEnvDocker: boolean): Record<string, unknown> {
  const docker: Record<string, unknown> = { host: 'unix:///var/run/docker.sock' };
  if (withEnvDocker && env['DOCKER_HOST']) {
    docker['host'] = env['DOCKER_HOST'];
    const tls = defaultDockerTls(env);
    if (tls) docker['tls'] = tls;
  }
  return { docker, state_dir: defaultStateDir(env) };
}

/** `-configPath FILE`, `-configPath=FILE`, `--configPath …`, `--config …`, `-c …`. */
export function configPathFromArgv(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const m = /^--?(configPath|config|c)(=(.*))?$/.exec(a);
    if (!m) continue;
    if (m[2] !== undefined) return m[3];
    const next = argv[i + 1];
    if (next === undefined) throw new CpiError(`${a} needs a file path`);
    return next;
  }
  return undefined;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable' : `cannot be read (${code})`;
    throw new CpiError(`config file ${file} ${why}`);
  }
  let raw: unknown;
  try {
    raw = parseJson(text);
  } catch (e) {
    throw new CpiError(`config file ${file} is not valid JSON: ${(e as JsonSyntaxError).message}`);
  }
  if (!isPlainObject(raw)) throw new CpiError(`config file ${file} must hold a JSON object`);
  return raw;
}

/** The cpi-config overlay: context keys other than the Director's own. */
function contextOverlay(context: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(context)) if (!DIRECTOR_CONTEXT_KEYS.has(k)) out[k] = v;
  return out;
}

const TOP_LEVEL_KEYS = new Set(Object.keys(Config.shape).map((k) => k.toLowerCase()));
const LEGACY_TOP_LEVEL = new Set(['actions', 'host', 'api_version', 'tls']);

function validate(candidate: unknown, where: string): Config {
  const result = Config.safeParse(candidate);
  if (!result.success) throw new CpiError(`invalid configuration (${where}): ${formatIssues(result.error.issues, candidate, '')}`);
  return result.data;
}

export function loadConfig(opts: { file?: string; env: Env; context?: Record<string, unknown> }): LoadedConfig {
  const file = opts.file ?? opts.env[CONFIG_ENV] ?? undefined;
  let merged: unknown = defaults(opts.env, file === undefined);
  if (file !== undefined) merged = deepMerge(merged, canonicalizeKeys(Config, liftLegacyShapes(readConfigFile(file))));
  const where = file !== undefined ? `config file ${file}` : 'built-in defaults';
  const ignoredContextKeys: string[] = [];
  const overlayRaw = contextOverlay(opts.context ?? {});
  let config: Config;
  if (Object.keys(overlayRaw).length) {
    const overlay = liftLegacyShapes(overlayRaw);
    for (const k of Object.keys(overlay)) {
      // Unknown cpi-config properties are not fatal: the Director sends whatever the operator put there.
      if (!TOP_LEVEL_KEYS.has(k.toLowerCase()) && !LEGACY_TOP_LEVEL.has(k.toLowerCase())) {
        ignoredContextKeys.push(k);
        delete overlay[k];
      }
    }
    const withContext = deepMerge(merged, canonicalizeKeys(Config, overlay));
    const result = Config.safeParse(withContext);
    if (result.success) config = result.data;
    else {
      // Report file problems as file problems, without the context mixed in.
      validate(merged, where);
      config = validate(withContext, `${where} with the request's cpi-config context`);
    }
  } else {
    config = validate(merged, where);
  }

  const envLevel = opts.env[LOG_LEVEL_ENV];
  if (envLevel) {
    const lvl = envLevel.toLowerCase();
    if (!isLevelName(lvl)) throw new CpiError(`${LOG_LEVEL_ENV} must be one of ${LEVEL_NAMES.join(', ')}`);
    config.log_level = lvl;
  }
  return { config, ignoredContextKeys };
}
