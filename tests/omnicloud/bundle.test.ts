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
  `const Module = require('module'); const fs = require('fs'); const seen = [];
const load = Module._load;
Module._load = function (request, parent, isMain) {
  try { seen.push(Module._resolveFilename(request, parent, isMain)); } catch {}
  return load.apply(this, arguments);
};
process.on('exit', () => fs.writeFileSync(process.env.LOAD_LOG, seen.join('\\n')));`,
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

describe('the omnicloud chunk', () => {
  it('is a separate bundle: the core has no engine code and no semver', () => {
    const meta = JSON.parse(fs.readFileSync(path.join(ROOT, 'dist', 'meta.json'), 'utf8')) as { outputs: Record<string, { inputs: Record<string, unknown> }> };
    const core = Object.keys(meta.outputs['dist/cpi.js']?.inputs ?? {});
    expect(core.length).toBeGreaterThan(10);
    expect(core.filter((f) => f.startsWith('src/omnicloud/') || f.includes('node_modules/semver'))).toEqual([]);
    const chunk = Object.keys(meta.outputs['dist/omnicloud.js']?.inputs ?? {});
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
});
