/**
 * The debugging CLI, for humans (it prints to STDOUT, unlike RPC mode):
 *
 *   bin/cpi omni list [--providers DIR] [--json]
 *   bin/cpi omni run [--providers DIR] PROVIDER ACTION [key=value | key:=JSON]… [--raw] [--trace]
 *   bin/cpi omni validate [--providers DIR] PROVIDER
 *   bin/cpi omni init [--providers DIR] PROVIDER [key=value…]
 *
 * Exit status: 0 success, 1 the action (or a provider file) failed, 2 bad usage.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { LOG_LEVEL_ENV } from '../config/env';
import { OMNICLOUD_DEFAULTS } from '../config/omnicloud-defaults';
import { createLogSession, isLevelName, type LogSession } from '../log/logger';
import { shippedProvidersDir } from './bridge/paths';
import { Engine } from './engine';
import { asOmniError, ProviderLoadError } from './errors';
import { Preflight } from './preflight';
import { loadProviderDir, type LoadResult } from './provider/load';
import type { Provider } from './provider/model';
import { Secrets } from './secrets';

type Env = Readonly<Record<string, string | undefined>>;

export interface CliIO {
  out: (s: string) => void;
  err: (s: string) => void;
}

const USAGE = `usage:
  bin/cpi omni list [--providers DIR] [--json]
  bin/cpi omni run [--providers DIR] PROVIDER ACTION [key=value | key:=JSON]... [--raw] [--trace]
                   [--no-validate] [--no-cache] [--init] [--timeout SECONDS] [--state-dir DIR] [--log-level LEVEL]
  bin/cpi omni validate [--providers DIR] PROVIDER
  bin/cpi omni init [--providers DIR] PROVIDER [key=value | key:=JSON]...

--providers defaults to the shipped providers directory. key=value passes a string, key:=JSON a
JSON value (number, boolean, array, object). The result is printed as JSON; --raw prints the raw
output (stdout or response body) instead. Secrets are redacted in everything printed. Passed
validations and initializations are cached under --state-dir (default: a directory in $TMPDIR);
--no-cache ignores the cache.`;

class UsageError extends Error {}

interface Args {
  command: string;
  positional: string[];
  params: Record<string, unknown>;
  flags: Map<string, string | true>;
}

const VALUE_FLAGS = new Set(['providers', 'timeout', 'state-dir', 'log-level']);

export function parseArgs(argv: readonly string[]): Args {
  const [command, ...rest] = argv;
  if (!command) throw new UsageError('missing command');
  const positional: string[] = [];
  const params: Record<string, unknown> = {};
  const flags = new Map<string, string | true>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] as string;
    const flag = /^--([a-z-]+)(?:=(.*))?$/s.exec(a);
    if (flag) {
      const name = flag[1] as string;
      if (VALUE_FLAGS.has(name)) {
        const v = flag[2] ?? rest[++i];
        if (v === undefined) throw new UsageError(`--${name} needs a value`);
        flags.set(name, v);
      } else flags.set(name, true);
      continue;
    }
    const kv = /^([A-Za-z_][A-Za-z0-9_]*)(:?=)(.*)$/s.exec(a);
    if (kv && positional.length >= (command === 'run' ? 2 : 1)) {
      const [, key, op, value] = kv as unknown as [string, string, string, string];
      if (op === ':=') {
        try {
          params[key] = JSON.parse(value);
        } catch {
          throw new UsageError(`${key}:= needs a JSON value`);
        }
      } else params[key] = value;
      continue;
    }
    positional.push(a);
  }
  return { command, positional, params, flags };
}

function load(args: Args): LoadResult {
  const dir = (args.flags.get('providers') as string | undefined) ?? shippedProvidersDir();
  try {
    return loadProviderDir(path.resolve(dir));
  } catch (e) {
    if (e instanceof ProviderLoadError) throw new UsageError(e.message);
    throw e;
  }
}

function describeAction(p: Provider, name: string): string {
  const a = p.actions.get(name);
  return a ? `${name}(${a.params.join(', ')})` : name;
}

function list(args: Args, io: CliIO): number {
  const loaded = load(args);
  if (args.flags.has('json')) {
    io.out(
      JSON.stringify(
        {
          dir: loaded.dir,
          providers: [...loaded.providers.values()].map((p) => ({
            name: p.name,
            type: p.type,
            file: p.file,
            actions: Object.fromEntries([...p.actions.values()].map((a) => [a.name, { params: a.params }])),
            warnings: p.warnings,
          })),
          errors: loaded.errors.map((e) => ({ file: e.file, problems: e.problems })),
        },
        null,
        2,
      ) + '\n',
    );
  } else {
    io.out(`providers in ${loaded.dir}:\n`);
    for (const p of loaded.providers.values()) {
      io.out(`  ${p.name} (${p.type}, ${path.basename(p.file)}): ${[...p.actions.keys()].map((a) => describeAction(p, a)).join(', ')}\n`);
      for (const w of p.warnings) io.out(`    warning: ${w}\n`);
    }
    for (const e of loaded.errors) {
      io.out(`  NOT LOADED ${path.basename(e.file)}:\n`);
      for (const pr of e.problems) io.out(`    ${pr}\n`);
    }
  }
  return loaded.errors.length ? 1 : 0;
}

function engineFor(args: Args, loaded: LoadResult, logs: LogSession, env: Env): { engine: Engine; preflight: Preflight } {
  const timeout = args.flags.get('timeout');
  const t = typeof timeout === 'string' ? Number(timeout) : OMNICLOUD_DEFAULTS.timeout_seconds;
  if (!(t > 0)) throw new UsageError('--timeout needs a positive number of seconds');
  const engine = new Engine(loaded.providers, {
    log: logs.logger,
    timeoutSeconds: t,
    connectTimeoutSeconds: OMNICLOUD_DEFAULTS.connect_timeout_seconds,
    maxOutputBytes: OMNICLOUD_DEFAULTS.max_output_bytes,
    maxErrorBytes: OMNICLOUD_DEFAULTS.max_error_bytes,
    settings: {},
    env: {},
    passEnv: [],
    processEnv: env,
  });
  const stateDir = (args.flags.get('state-dir') as string | undefined) ?? path.join(os.tmpdir(), `omnicloud-cli-${process.getuid?.() ?? 'user'}`);
  return { engine, preflight: new Preflight(engine, { dir: path.join(stateDir, 'cache'), seconds: args.flags.has('no-cache') ? 0 : OMNICLOUD_DEFAULTS.cache_seconds }) };
}

function providerOf(args: Args, loaded: LoadResult, io: CliIO, count: number): string {
  if (args.positional.length !== count) throw new UsageError(`expected ${count === 1 ? 'PROVIDER' : 'PROVIDER ACTION'}`);
  const name = args.positional[0] as string;
  if (!loaded.providers.has(name)) for (const e of loaded.errors) io.err(`not loaded: ${e.message}\n`);
  return name;
}

function printError(e: unknown, io: CliIO): number {
  io.out(JSON.stringify(asOmniError(e).toJSON(), null, 2) + '\n');
  return 1;
}

async function run(args: Args, io: CliIO, logs: LogSession, env: Env): Promise<number> {
  const loaded = load(args);
  const name = providerOf(args, loaded, io, 2);
  const action = args.positional[1] as string;
  const { engine, preflight } = engineFor(args, loaded, logs, env);
  try {
    const p = engine.provider(name);
    engine.action(p, action); // an unknown action fails before validation runs
    if (!args.flags.has('no-validate')) await preflight.validate(p);
    const init = args.flags.has('init') ? await preflight.initialize(p, args.params) : {};
    const r = await engine.run(name, action, args.params, { initOutputs: init });
    if (args.flags.has('raw')) io.out(r.raw.endsWith('\n') || r.raw === '' ? r.raw : `${r.raw}\n`);
    // The run's own secrets: also those that earlier steps' outputs brought in.
    else io.out(JSON.stringify(r.secrets.scrubDeep(r.result, r.declared), null, 2) + '\n');
    if (args.flags.has('trace')) for (const t of r.trace) io.err(`${t.outcome.padEnd(7)} ${t.phase}/${t.step} ${t.ms} ms\n`);
    return 0;
  } catch (e) {
    return printError(e, io);
  }
}

async function validate(args: Args, io: CliIO, logs: LogSession, env: Env): Promise<number> {
  const loaded = load(args);
  const name = providerOf(args, loaded, io, 1);
  const { engine, preflight } = engineFor(args, loaded, logs, env);
  try {
    await preflight.validate(engine.provider(name));
    io.out(JSON.stringify({ provider: name, valid: true }, null, 2) + '\n');
    return 0;
  } catch (e) {
    return printError(e, io);
  }
}

async function init(args: Args, io: CliIO, logs: LogSession, env: Env): Promise<number> {
  const loaded = load(args);
  const name = providerOf(args, loaded, io, 1);
  const { engine, preflight } = engineFor(args, loaded, logs, env);
  try {
    const p = engine.provider(name);
    const outputs = await preflight.initialize(p, args.params);
    const secrets = Secrets.fromParams({ ...args.params, ...outputs }, p.secretParams);
    io.out(JSON.stringify(secrets.scrubDeep({ provider: name, outputs }, p.secretParams), null, 2) + '\n');
    return 0;
  } catch (e) {
    return printError(e, io);
  }
}

export async function runOmniCli(argv: readonly string[], env: Env, io: CliIO = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) }): Promise<number> {
  const logs = createLogSession({ omni: true });
  const i = argv.indexOf('--log-level');
  const flag = argv.find((a) => a.startsWith('--log-level='))?.slice('--log-level='.length) ?? (i >= 0 ? argv[i + 1] : undefined);
  const level = (flag ?? env[LOG_LEVEL_ENV] ?? 'warn').toLowerCase();
  logs.setLevel(isLevelName(level) ? level : 'warn');
  try {
    if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
      io.out(`${USAGE}\n`);
      return argv.length === 0 ? 2 : 0;
    }
    const args = parseArgs(argv);
    switch (args.command) {
      case 'list':
        return list(args, io);
      case 'run':
        return await run(args, io, logs, env);
      case 'validate':
        return await validate(args, io, logs, env);
      case 'init':
        return await init(args, io, logs, env);
      default:
        throw new UsageError(`unknown command '${args.command}'`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`bin/cpi omni: ${e.message}\n${USAGE}\n`);
      return 2;
    }
    io.err(`bin/cpi omni: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
