/**
 * Cross-process locks per VM, per disk and per network being created. The Director runs up to 32
 * CPI calls at once, each its own process: two attach_disk calls on one VM would otherwise both
 * read the settings, each add its disk and write, and one entry would be lost; "who holds this
 * disk" and "mount it" would be a race between two VMs; parallel create_vm calls of one new
 * network would all ask the engine to create it, and the losers be refused ("Pool overlaps").
 *
 * proper-lockfile: a lock is a directory (mkdir is atomic) whose mtime the holder refreshes; a
 * holder killed with SIGKILL stops refreshing, and after `stale` ms the next caller takes the lock
 * over. Waits are bounded: a caller that cannot get the lock in time fails retryably.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as Lockfile from 'proper-lockfile';
import { CloudError } from '../../rpc/errors';

/** How long a killed holder's lock blocks others (proper-lockfile's minimum is 2 s). */
const STALE_MS = 5000;
const POLL_MS = [10, 30] as const;

export type LockKind = 'vm' | 'disk' | 'network';

export interface LockOptions {
  root: string;
  waitMs: number;
  /** Told when a call had to wait for another's lock (debug: how contention shows in logs). */
  onWaited?: (what: string, ms: number) => void;
}

function lockfile(): typeof Lockfile {
  // Loaded by the calls that lock only (has_vm, has_disk and info never do).
  return require('proper-lockfile') as typeof Lockfile;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The lock's path: CIDs are unique across engines (UUIDs), so one directory serves all of them. */
export function lockPath(root: string, kind: LockKind, cid: string): string {
  return path.join(root, 'locks', `${kind}-${cid}`);
}

/** Waits (bounded) for the lock, then returns its release. */
export async function acquire(opts: LockOptions, kind: LockKind, cid: string): Promise<() => Promise<void>> {
  const file = lockPath(opts.root, kind, cid);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const started = Date.now();
  const deadline = started + opts.waitMs;
  for (let waited = false; ; waited = true) {
    try {
      const release = await lockfile().lock(file, {
        realpath: false,
        stale: STALE_MS,
        retries: 0,
        // The lock was lost (its directory removed, its refresh failing): the holder must not go on.
        onCompromised: (e) => {
          throw new CloudError(`the lock of ${kind} ${cid} was lost while this call held it: ${e.message}`);
        },
      });
      if (waited) opts.onWaited?.(`${kind} ${cid}`, Date.now() - started);
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ELOCKED') throw e;
      if (Date.now() >= deadline) {
        throw new CloudError(`${kind === 'vm' ? 'VM' : kind} ${cid} is busy: another CPI call has held its lock for over ${Math.round(opts.waitMs / 1000)} s (lock_timeout_seconds)`, {
          okToRetry: true,
        });
      }
      await sleep(POLL_MS[0] + Math.random() * (POLL_MS[1] - POLL_MS[0]));
    }
  }
}

/** Runs `work` holding the locks of `targets`, taken in the given order (callers: VMs, then disks, then networks). */
export async function withLocks<T>(opts: LockOptions, targets: Array<[LockKind, string]>, work: () => Promise<T>): Promise<T> {
  const releases: Array<() => Promise<void>> = [];
  try {
    for (const [kind, cid] of targets) releases.push(await acquire(opts, kind, cid));
    return await work();
  } finally {
    for (const release of releases.reverse()) await release().catch(() => undefined);
  }
}
