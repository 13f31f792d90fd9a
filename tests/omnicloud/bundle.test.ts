/**
 * Start-up cost: the engine is its own chunk (dist/omnicloud.js). The core bundle contains none
 * of it, and neither `info` nor the Docker backend loads it; `backend: omnicloud` does.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, writeConfig } from '../helpers/cpi';
import { tmpDir } from './helpers';

const dir = tmpDir('omni-bundle-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const hook = path.join(dir, 'hook.js');
fs.writeFileSync(
  hook,
  // Records every module required and every file read or opened: a chunk may be loaded with
  // require or read for a code-cached compile.
  `const Module = require('module'); const fs = require('fs'); const seen = [];
const load = Module._load;
Module._load = function (request, parent, isMain) {
  try { seen.push(Module._resolveFilename(request, parent, isMain)); } catch {}
  return load.apply(this, arguments);
};
for (const f of ['readFileSync', 'openSync']) {
  const orig = fs[f];
  fs[f] = function (p, ...rest) { if (typeof p === 'string') seen.push(p); return orig.call(this, p, ...rest); };
}
const write = fs.writeFileSync;
process.on('exit', () => write(process.env.LOAD_LOG, seen.join('\\n')));`,
);

/** The files a bin/cpi call required. */
function loaded(request: Record<string, unknown>, config?: string): string[] {
  const logFile = path.join(dir, `load-${Math.random().toString(36).slice(2)}.log`);
  const r = spawnSync(process.execPath, ['-r', hook, path.join(ROOT, 'dist', 'cpi.js'), ...(config ? ['-configPath', config] : [])], {
    input: JSON.stringify(request),
    encoding: 'utf8',
    env: { PATH: process.env['PATH'], LOAD_LOG: logFile },
  });
  expect(r.status).toBe(0);
  expect(() => JSON.parse(r.stdout)).not.toThrow();
  return fs.readFileSync(logFile, 'utf8').split('\n');
}

const omnicloudChunk = path.join(ROOT, 'dist', 'omnicloud.js');
const parserChunk = path.join(ROOT, 'dist', 'shellParser.js');

describe('the omnicloud chunk', () => {
  it('is a separate bundle: the core has no engine code and no semver', () => {
    const meta = JSON.parse(fs.readFileSync(path.join(ROOT, 'dist', 'meta.json'), 'utf8')) as { outputs: Record<string, { entryPoint?: string; inputs: Record<string, unknown> }> };
    const inputsOf = (entry: string) => Object.keys(Object.values(meta.outputs).find((o) => o.entryPoint === entry)?.inputs ?? {});
    // The core is the bundle of src/cli.ts, whatever its file is called.
    const core = inputsOf('src/cli.ts');
    expect(core.length).toBeGreaterThan(10);
    expect(core.filter((f) => f.startsWith('src/omnicloud/') || f.includes('node_modules/semver'))).toEqual([]);
    expect(meta.outputs['dist/omnicloud.js']?.entryPoint).toBe('src/omnicloud/index.ts');
    const chunk = inputsOf('src/omnicloud/index.ts');
    expect(chunk).toContain('src/omnicloud/engine.ts');
    expect(chunk.some((f) => f.includes('node_modules/semver'))).toBe(true);
  });

  it('is not loaded by info, nor by a Docker-backend call; it is by backend: omnicloud', () => {
    expect(loaded({ method: 'info', arguments: [], context: {} })).not.toContain(omnicloudChunk);
    const docker = writeConfig({ state_dir: path.join(dir, 'state') }, fs.mkdtempSync(path.join(dir, 'd-')));
    const dockerFiles = loaded({ method: 'has_vm', arguments: ['c-1'], context: {}, api_version: 2 }, docker);
    expect(dockerFiles).toContain(path.join(ROOT, 'dist', 'docker.js'));
    expect(dockerFiles).not.toContain(omnicloudChunk);
    const omni = writeConfig({ backend: 'omnicloud', state_dir: path.join(dir, 'state'), omnicloud: { provider: 'docker', validate: false } }, fs.mkdtempSync(path.join(dir, 'o-')));
    expect(loaded({ method: 'set_vm_metadata', arguments: ['c-1', {}], context: {}, api_version: 2 }, omni)).toContain(omnicloudChunk);
  });

  it('the shell parser chunk is loaded only when a provider file is analysed afresh: a has_vm with the analysis cached does not load it', () => {
    const state = path.join(dir, 'state-parser');
    const omni = writeConfig({ backend: 'omnicloud', state_dir: state, omnicloud: { provider: 'docker', validate: false } }, fs.mkdtempSync(path.join(dir, 'p-')));
    const req = { method: 'has_vm', arguments: ['vm-omni-bundle-none'], context: {}, api_version: 2 };
    // First call: the docker provider's sh -c scripts are parsed and the analysis is written.
    expect(loaded(req, omni)).toContain(parserChunk);
    expect(fs.readdirSync(path.join(state, 'omnicloud', 'cache')).filter((f) => f.startsWith('shell-'))).toHaveLength(1);
    // Every later call reads it: the parser stays unloaded.
    const files = loaded(req, omni);
    expect(files).toContain(omnicloudChunk);
    expect(files).not.toContain(parserChunk);
    // info and the Docker backend never load it.
    expect(loaded({ method: 'info', arguments: [], context: {} })).not.toContain(parserChunk);
  });

  it('a verified provider file: has_vm reads the mark and not the shell analysis, which only an action with shell code reads', () => {
    const state = path.join(dir, 'state-verified');
    const cache = path.join(state, 'omnicloud', 'cache');
    const omni = writeConfig({ backend: 'omnicloud', state_dir: state, omnicloud: { provider: 'docker', validate: false } }, fs.mkdtempSync(path.join(dir, 'v-')));
    const req = { method: 'has_vm', arguments: ['vm-omni-bundle-none'], context: {}, api_version: 2 };
    loaded(req, omni);
    const [mark] = fs.readdirSync(cache).filter((f) => f.startsWith('verified-'));
    const [analysis] = fs.readdirSync(cache).filter((f) => f.startsWith('shell-'));
    const files = loaded(req, omni);
    expect(files).toContain(path.join(cache, mark as string));
    expect(files).not.toContain(path.join(cache, analysis as string));
    // set_vm_metadata runs an sh -c script: its analysis is read, the parser still not loaded.
    const md = loaded({ method: 'set_vm_metadata', arguments: ['vm-omni-bundle-none', { a: 'b' }], context: {}, api_version: 2 }, omni);
    expect(md).toContain(path.join(cache, analysis as string));
    expect(md).not.toContain(parserChunk);
  });
});
