/**
 * The process entry (dist/cpi.js). Loads the bundle files next to it through a V8 code cache:
 * a CPI call is a fresh node process, and compiling the bundle's functions is a large part of
 * its start-up. The caches (dist/*.js.cache) are written by a training run at build time with
 * the node that will run them; a cache V8 rejects (another node version) is ignored, and
 * CPI_CODE_CACHE=off disables the mechanism.
 */
import * as fs from 'node:fs';
import Module from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';

type Loader = (module: NodeJS.Module, filename: string) => void;
const M = Module as unknown as { _extensions: Record<string, Loader>; wrap(source: string): string };
const dir = __dirname;
const mode = process.env['CPI_CODE_CACHE'];

if (mode !== 'off') {
  const scripts: Array<[string, vm.Script]> = [];
  const defaultLoader = M._extensions['.js'] as Loader;
  M._extensions['.js'] = (module, filename) => {
    if (path.dirname(filename) !== dir) return defaultLoader(module, filename);
    let cachedData: Buffer | undefined;
    if (mode !== 'train') {
      try {
        cachedData = fs.readFileSync(`${filename}.cache`);
      } catch {
        /* no cache: compile as usual */
      }
    }
    const script = new vm.Script(M.wrap(fs.readFileSync(filename, 'utf8')), { filename, cachedData });
    scripts.push([filename, script]);
    const wrapper = script.runInThisContext() as (...a: unknown[]) => void;
    wrapper.call(module.exports, module.exports, Module.createRequire(filename), module, filename, dir);
  };
  if (mode === 'train') {
    process.on('exit', () => {
      for (const [file, script] of scripts) fs.writeFileSync(`${file}.cache`, script.createCachedData());
    });
  }
}

require(path.join(dir, 'core.js'));
