/**
 * Disks with a size: an ext4 filesystem in a sparse file inside the disk's Docker volume,
 * loop-mounted while attached. The size holds (a full disk is ENOSPC, as on a VM), resize_disk
 * is real, and a snapshot of a frozen filesystem is a point-in-time copy.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from './host';

export const IMAGE_FILE = 'disk.img';
const MiB = 1024 * 1024;

export function imagePath(volumeDir: string): string {
  return path.join(volumeDir, IMAGE_FILE);
}

/** A sparse file of `sizeMiB` holding a fresh ext4 (no reserved blocks: the whole size is usable). */
export async function createImage(file: string, sizeMiB: number): Promise<void> {
  const fd = fs.openSync(file, 'wx', 0o600);
  try {
    fs.ftruncateSync(fd, sizeMiB * MiB);
  } finally {
    fs.closeSync(fd);
  }
  await run('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', 'lazy_itable_init=1,lazy_journal_init=1', '-L', 'bosh-disk', file]);
}

/** Grows an unmounted image's file and filesystem. */
export async function growImage(file: string, sizeMiB: number): Promise<void> {
  const bytes = sizeMiB * MiB;
  if (fs.statSync(file).size > bytes) throw new Error('shrinking is not supported');
  // resize2fs wants a freshly checked filesystem; e2fsck exits 1 when it fixed something.
  await run('e2fsck', ['-f', '-y', file], 600_000, [0, 1]);
  fs.truncateSync(file, bytes);
  await run('resize2fs', [file, `${sizeMiB}M`], 600_000);
}

/** Copies an image keeping it sparse (and sharing blocks where the filesystem can reflink). */
export async function copyImage(from: string, to: string): Promise<void> {
  await run('cp', ['--sparse=always', '--reflink=auto', from, to], 3_600_000);
}

/** Flushes and blocks writes to a mounted filesystem for the duration of `work`. */
export async function whileFrozen<T>(mountPoint: string, work: () => Promise<T>): Promise<T> {
  await run('fsfreeze', ['--freeze', mountPoint]);
  try {
    return await work();
  } finally {
    await run('fsfreeze', ['--unfreeze', mountPoint]);
  }
}
