/**
 * npm run release [-- --dir DIR]: lays out the BOSH release in release/ (or DIR) from the build in
 * dist/ (npm run release builds it first), jobs/, packages/ and the node blobs of the npm registry.
 * Then `bosh create-release` in that directory makes the release tarball.
 */
import * as path from 'node:path';
import { ROOT } from '../tests/helpers/cpi';
import { layoutRelease, RELEASE_NAME } from './release/layout';
import { npmFetcher } from './release/npm-blobs';

function parseArgs(argv: string[]): { dir: string } {
  let dir = path.join(ROOT, 'release');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--dir' && argv[i + 1]) dir = path.resolve(argv[++i] as string);
    else if (a.startsWith('--dir=')) dir = path.resolve(a.slice('--dir='.length));
    else throw new Error(`unknown argument ${a} (usage: npm run release [-- --dir DIR])`);
  }
  return { dir };
}

async function main(): Promise<void> {
  const { dir } = parseArgs(process.argv.slice(2));
  const log = (line: string) => process.stdout.write(`release: ${line}\n`);
  log(`laying out ${RELEASE_NAME} in ${dir}`);
  const r = await layoutRelease({ root: ROOT, dir, fetchBlob: npmFetcher(process.env), log });
  const rel = path.relative(process.cwd(), dir) || '.';
  log(`jobs: ${r.jobs.join(', ')}; packages: ${r.packages.join(', ')}; src/docker_cpi: ${r.sources.join(', ')}`);
  process.stdout.write(`
Next, with the bosh CLI:
  cd ${rel}
  bosh create-release --tarball=/tmp/${RELEASE_NAME}.tgz   # a dev release (add --force while git has local changes)
  bosh upload-release /tmp/${RELEASE_NAME}.tgz                     # to a Director
or for bosh create-env, name the tarball in the manifest: manifests/create-env.yml, manifests/bosh-deployment-cpi.yml.
`);
}

main().catch((e: unknown) => {
  process.stderr.write(`release: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
