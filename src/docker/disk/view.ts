/**
 * What an engine can do with disks, from the engine's own view (never from this machine's
 * filesystem, which may hold a directory at the engine's data-root path by coincidence):
 *
 * - local: the engine sees this machine's files (a bind of the state directory shows a token
 *   just written there): the CPI makes and mounts disks itself (host, block or helper mode);
 * - live:  it does not, but helpers with a propagating bind and loop devices work on its host: disks
 *   are made, mounted and resized there by helpers (remote.ts);
 * - neither: plain directories, attached by recreating the container.
 *
 * Each answer is kept per engine in its records (one file each, written whole: no read-modify-
 * write); remove the file to ask the engine again (after changing its host's mount propagation).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DockerContext } from '../context';
import { isEngineError } from '../engine/client';
import { runHelper } from '../engine/helper';
import { L } from '../labels';
import { probeLive } from './remote';

interface Live {
  live: boolean;
  reason?: string;
}

async function recordFile(ctx: DockerContext, name: string): Promise<string> {
  return path.join(ctx.state.engineDir(await ctx.engineId()), name);
}

function read<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function write(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(value) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** create_vm learnt it by creating a container (a bind of the state directory worked, or not). */
export async function recordSeesState(ctx: DockerContext, sees: boolean): Promise<void> {
  const file = await recordFile(ctx, 'sees-state.json');
  if (read<{ sees: boolean }>(file)?.sees !== sees) write(file, { sees });
}

/** Whether the engine sees this machine's files; asked with a helper the first time (needs an image). */
export async function seesState(ctx: DockerContext, image: string | undefined): Promise<boolean | undefined> {
  const file = await recordFile(ctx, 'sees-state.json');
  const known = read<{ sees: boolean }>(file);
  if (known) return known.sees;
  if (!image) return undefined;
  const token = `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const probe = `${file}.probe.${process.pid}`;
  fs.writeFileSync(probe, token, { mode: 0o644 });
  let sees: boolean;
  try {
    const r = await runHelper(ctx, { image, cmd: ['cat', '/probe'], mounts: [{ Type: 'bind', Source: probe, Target: '/probe', ReadOnly: true }], labels: ctx.labels({ 'bosh.cpi.helper': 'probe' }) });
    sees = r.code === 0 && r.output.trim() === token;
  } catch (e) {
    if (!(isEngineError(e) && /bind source path does not exist/i.test(e.engineMessage))) throw e;
    sees = false;
  } finally {
    fs.rmSync(probe, { force: true });
  }
  write(file, { sees });
  return sees;
}

/** Whether a remote engine takes live disks (see remote.ts); probed once with `image`. */
export async function remoteLive(ctx: DockerContext, image: string | undefined): Promise<Live> {
  if (ctx.config.remote_disks === 'recreate') return { live: false, reason: 'remote_disks is "recreate" in the CPI\'s configuration' };
  const file = await recordFile(ctx, 'remote-disks.json');
  const known = read<Live>(file);
  if (known) return known;
  if (!image) return { live: false, reason: 'no stemcell image on the engine to run a helper from' };
  const found = await probeLive(ctx, image);
  if (!found.live) ctx.log.info('disks on this engine attach by recreating the container', { engine: ctx.engine.endpoint.display, reason: found.reason });
  write(file, found);
  return found;
}

/**
 * The image a disk helper runs from: the VM's, when the call names one on this engine, else the
 * newest stemcell image the CPI imported there.
 */
export async function helperImage(ctx: DockerContext, vmImage?: string): Promise<string | undefined> {
  if (vmImage) return vmImage;
  const images = await ctx.engine.request<Array<{ Id: string; Created: number }>>('GET', '/images/json', { query: { filters: { label: [`${L.managed}=true`, L.stemcellCid] } } });
  return images.sort((a, b) => b.Created - a.Created)[0]?.Id;
}

/** From the records alone (no probe): this engine is remote and takes live disks. */
export async function remoteLiveKnown(ctx: DockerContext): Promise<boolean> {
  if (ctx.config.remote_disks === 'recreate') return false;
  // No engine of this CPI's records takes live remote disks: no need to ask which one this is (GET /info).
  if (!anyLiveRemote(ctx.state.enginesRoot())) return false;
  return read<{ sees: boolean }>(await recordFile(ctx, 'sees-state.json'))?.sees === false && read<Live>(await recordFile(ctx, 'remote-disks.json'))?.live === true;
}

function anyLiveRemote(enginesRoot: string): boolean {
  let engines: string[];
  try {
    engines = fs.readdirSync(enginesRoot);
  } catch {
    return false;
  }
  return engines.some((e) => read<Live>(path.join(enginesRoot, e, 'remote-disks.json'))?.live === true);
}
