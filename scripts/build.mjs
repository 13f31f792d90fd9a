// Bundles the CPI into dist/: the core (cpi.js) plus one file per lazily loaded part, so a call
// parses only the code it runs. See src/runtime/chunks.ts.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
mkdirSync(join(root, 'dist'), { recursive: true });
// The release ships every dist/*.js: a chunk of a removed entry point, or its code cache, must
// not outlive it.
for (const f of readdirSync(join(root, 'dist'))) {
  if (f.endsWith('.js') || f.endsWith('.js.cache')) rmSync(join(root, 'dist', f));
}

const entryPoints = {
  cpi: 'src/boot.ts',
  core: 'src/cli.ts',
  pino: 'src/log/pino-sink.ts',
  docker: 'src/docker/index.ts',
  vmCreate: 'src/docker/vm/create.ts',
  disks: 'src/docker/disk/index.ts',
  stemcellImport: 'src/docker/stemcell/import.ts',
  tar: 'src/runtime/tar.ts',
  omnicloud: 'src/omnicloud/index.ts',
  shellParser: 'src/omnicloud/template/shell-code.ts',
};

// signal-exit's `assert`: a one-function stand-in (see src/runtime/plain-assert.ts); pino's stays node's.
const plainAssertForSignalExit = {
  name: 'plain-assert-for-signal-exit',
  setup(b) {
    b.onResolve({ filter: /^assert$/ }, (args) => (/[\\/]signal-exit[\\/]/.test(args.importer) ? { path: join(root, 'src', 'runtime', 'plain-assert.ts') } : undefined));
  },
};

const result = await build({
  absWorkingDir: root,
  entryPoints,
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // Whitespace and syntax only: stack traces keep readable names.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  define: { __CPI_BUNDLED__: 'true' },
  // proper-lockfile's graceful-fs: node's fs instead (see src/runtime/plain-fs.ts).
  alias: { 'graceful-fs': './src/runtime/plain-fs.ts' },
  plugins: [plainAssertForSignalExit],
  logOverride: { 'unsupported-require-call': 'silent' },
  metafile: true,
});
writeFileSync(join(root, 'dist', 'meta.json'), JSON.stringify(result.metafile));

// V8 code caches for the node that runs the build (see src/boot.ts): a training run executes
// typical requests in one process and writes dist/*.js.cache at exit.
const train = spawnSync(process.execPath, [join(root, 'dist', 'cpi.js')], {
  env: { PATH: process.env.PATH, CPI_CODE_CACHE: 'train', BOSH_CPI_TRAINING: '1', HOME: '/nonexistent', BOSH_CPI_STATE_DIR: join(root, 'dist', '.training-state') },
  input: '',
  encoding: 'utf8',
});
if (train.status !== 0) {
  console.error(`code cache training failed (the CPI works without it): ${train.stderr}`);
}
