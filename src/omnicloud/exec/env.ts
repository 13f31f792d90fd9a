/**
 * The environment a command runs with is built, not inherited: the CPI's own environment may hold
 * configuration and credentials that a provider's CLI has no business seeing. It is PATH, HOME and
 * a C locale (stable output for parse rules), the variables named in `pass_env`, then the
 * provider's, the configuration's and the step's `env`.
 */

import * as fs from 'node:fs';

/** Where the Director's PATH looks for programs, used when the CPI itself has no PATH. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface EnvSources {
  processEnv: Readonly<Record<string, string | undefined>>;
  passEnv: readonly string[];
  layers: ReadonlyArray<Readonly<Record<string, string>>>;
}

export function buildEnv(src: EnvSources): Record<string, string> {
  const env: Record<string, string> = { PATH: src.processEnv['PATH'] || DEFAULT_PATH, LANG: 'C', LC_ALL: 'C' };
  if (src.processEnv['HOME']) env['HOME'] = src.processEnv['HOME'];
  for (const name of src.passEnv) {
    const v = src.processEnv[name];
    if (v !== undefined) env[name] = v;
  }
  for (const layer of src.layers) Object.assign(env, layer);
  return env;
}

/** Looks a program up on a PATH, as execvp would. */
export function onPath(program: string, pathVar: string, isExecutable: (file: string) => boolean): string | undefined {
  if (program.includes('/')) return isExecutable(program) ? program : undefined;
  for (const dir of pathVar.split(':')) {
    const file = `${dir || '.'}/${program}`;
    if (isExecutable(file)) return file;
  }
  return undefined;
}

/** Whether a file is a regular executable file (for PATH lookups). */
export function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
