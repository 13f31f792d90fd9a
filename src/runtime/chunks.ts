/**
 * Lazily loaded parts of the CPI.
 *
 * Every CPI call is a fresh node process, and parsing code costs time even when it never runs, so
 * the build emits the heavy parts (pino, the backends and their per-operation parts,
 * tar-stream) as separate files next to the core and loads only what a request needs. Under
 * ts-jest nothing is bundled and the sources are required directly.
 */
import * as path from 'node:path';

/** true in the esbuild bundle (a define), false under jest (a global in jest.config.js). */
declare const __CPI_BUNDLED__: boolean;

export interface Chunks {
  pino: typeof import('../log/pino-sink');
  docker: typeof import('../docker');
  /** Persistent disks: attach/detach, volumes, snapshots, host mounts. */
  disks: typeof import('../docker/disk');
  /** create_vm: building and starting a VM's container. */
  vmCreate: typeof import('../docker/vm/create');
  /** create_stemcell's streaming import (tar-stream, zlib). */
  stemcellImport: typeof import('../docker/stemcell/import');
  tar: typeof import('./tar');
  omnicloud: typeof import('../omnicloud');
  /** mvdan-sh and the shell-code analysis of command templates (loaded on a cache miss only). */
  shellParser: typeof import('../omnicloud/template/shell-code');
}

export type ChunkName = keyof Chunks;

export function loadChunk<N extends ChunkName>(name: N): Chunks[N] {
  if (__CPI_BUNDLED__) {
    return require(path.join(__dirname, `${name}.js`)) as Chunks[N];
  } else {
    // Kept out of the bundle by the define above: esbuild drops this dead branch.
    const sources: { [K in ChunkName]: () => Chunks[K] } = {
      pino: () => require('../log/pino-sink'),
      docker: () => require('../docker'),
      disks: () => require('../docker/disk'),
      vmCreate: () => require('../docker/vm/create'),
      stemcellImport: () => require('../docker/stemcell/import'),
      tar: () => require('./tar'),
      omnicloud: () => require('../omnicloud'),
      shellParser: () => require('../omnicloud/template/shell-code'),
    };
    return sources[name]();
  }
}
