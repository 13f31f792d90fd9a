// Bundles the CPI into dist/: the core (cpi.js) plus one file per lazily loaded part, so a call
// parses only the code it runs. See src/runtime/chunks.ts.
import { build } from 'esbuild';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const empty = join(root, 'scripts', 'empty-module.cjs');
mkdirSync(join(root, 'dist'), { recursive: true });

export const entryPoints = {
  cpi: 'src/cli.ts',
  pino: 'src/log/pino-sink.ts',
  docker: 'src/docker/index.ts',
  omnicloud: 'src/omnicloud/index.ts',
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
  // dockerode pulls these in for ssh:// hosts and BuildKit sessions, neither of which the CPI uses.
  alias: {
    ssh2: empty,
    '@grpc/grpc-js': empty,
    '@grpc/proto-loader': empty,
    protobufjs: empty,
  },
  logOverride: { 'unsupported-require-call': 'silent' },
  metafile: true,
});
writeFileSync(join(root, 'dist', 'meta.json'), JSON.stringify(result.metafile));
