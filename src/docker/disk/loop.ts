/**
 * Loop devices on the Docker host, read from sysfs (the same information losetup prints, without
 * a process) and changed with losetup. A block-mode VM owns a few loop minors (see block.ts);
 * every other loop user (the CPI's own host mounts, anything else on the host) takes devices with
 * `losetup -f`, which hands out the lowest free one.
 */
import * as fs from 'node:fs';
import { run } from './host';

export const LOOP_MAJOR = 7;

/** The file loop device `minor` is bound to, or undefined (unbound, or no such device yet). */
export function loopBacking(minor: number): string | undefined {
  try {
    return fs.readFileSync(`/sys/block/loop${minor}/loop/backing_file`, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Whether a detach of `minor` is waiting for its last user (autoclear set while it is open). */
export function loopDetachPending(minor: number): boolean {
  try {
    return fs.readFileSync(`/sys/block/loop${minor}/loop/autoclear`, 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

/** Every loop device bound to `file` (by its real path, as sysfs shows it): its minors. */
export function loopsBacking(file: string): number[] {
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch {
    return [];
  }
  let names: string[];
  try {
    names = fs.readdirSync('/sys/block').filter((d) => /^loop\d+$/.test(d));
  } catch {
    return [];
  }
  return names.map((d) => Number(d.slice(4))).filter((m) => loopBacking(m) === real);
}

export class LoopBusy extends Error {}

/**
 * Binds loop device `minor` to `file` (creating the device if it does not exist yet). A device
 * already bound is refused by the kernel (EBUSY): LoopBusy, so a bind is also a claim.
 */
export async function bindLoop(minor: number, file: string, readOnly = false): Promise<void> {
  try {
    await run('losetup', [...(readOnly ? ['--read-only'] : []), `/dev/loop${minor}`, file]);
  } catch (e) {
    if (/busy/i.test((e as Error).message)) throw new LoopBusy(`/dev/loop${minor} is in use`);
    throw e;
  }
}

/** Unbinds `minor`; a device still open (a mounted filesystem) goes when its last user closes it. */
export async function unbindLoop(minor: number): Promise<void> {
  if (loopBacking(minor) === undefined) return;
  await run('losetup', ['--detach', `/dev/loop${minor}`]);
}

/** The major and minor of a device number as Node reports it (glibc's encoding of dev_t). */
export function devNumbers(rdev: number): { major: number; minor: number } {
  const big = BigInt(rdev);
  const major = Number(((big >> 8n) & 0xfffn) | ((big >> 32n) & ~0xfffn));
  const minor = Number((big & 0xffn) | ((big >> 12n) & ~0xffn));
  return { major, minor };
}
