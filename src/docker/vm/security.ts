/**
 * What a VM's container may do: privileged or not, and what the CPI adds to an unprivileged one.
 *
 * `privileged: true` is the configuration's default (warden/boshlite stemcells were made for
 * privileged containers), but some engines cannot start privileged containers at all: Debian's
 * docker.io on hosts whose capability bounding set lacks CAP_SYS_RESOURCE fails with "unable to
 * apply caps". When the privilege comes from the configuration (not from the VM's own
 * cloud_properties), such an engine gets the VM unprivileged instead, with the reason in the
 * task log; the finding is remembered per engine for a day, so later VMs do not pay for a failed
 * start. A VM whose cloud_properties ask for `privileged: true` is refused there, as before.
 *
 * An unprivileged VM whose stemcell has a BOSH agent gets CAP_SYS_ADMIN: the agent mounts its
 * persistent disk (and tmpfs directories). A block-mode VM also loses CAP_MKNOD and may use
 * exactly its own loop devices (see disk/block.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DockerContext } from '../context';
import { isEngineError } from '../engine/client';
import type { SecurityExtras } from './container-spec';

const MEMO_FILE = 'privileged.json';
const MEMO_MS = 24 * 3600 * 1000;

export interface Privilege {
  privileged: boolean;
  /** Why a configured privileged start was not attempted (the engine refused one before). */
  downgraded?: string;
  /** Whether the VM's own cloud_properties decided. */
  explicit: boolean;
}

/** The engine refused to start a privileged container that only the configuration asked for. */
export class PrivilegeRefused extends Error {}

export function isPrivilegeRefusal(e: unknown): boolean {
  return isEngineError(e) && /unable to apply caps|apply caps.*operation not permitted/i.test(e.engineMessage);
}

function memoFile(ctx: DockerContext, engineId: string): string {
  return path.join(ctx.state.engineDir(engineId), MEMO_FILE);
}

function memo(ctx: DockerContext, engineId: string): string | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(memoFile(ctx, engineId), 'utf8')) as { reason?: unknown; at?: unknown };
    return typeof m.reason === 'string' && typeof m.at === 'number' && Date.now() - m.at < MEMO_MS ? m.reason : undefined;
  } catch {
    return undefined;
  }
}

/** Remembers that this engine cannot start privileged containers, and why. */
export function rememberRefusal(ctx: DockerContext, engineId: string, reason: string): void {
  const file = memoFile(ctx, engineId);
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(`${file}.${process.pid}`, JSON.stringify({ reason, at: Date.now() }));
    fs.renameSync(`${file}.${process.pid}`, file);
  } catch {
    /* only saves a failed start next time */
  }
}

export function choosePrivilege(ctx: DockerContext, engineId: string, requested: boolean | undefined): Privilege {
  if (requested !== undefined) return { privileged: requested, explicit: true };
  if (!ctx.config.privileged) return { privileged: false, explicit: false };
  const refused = memo(ctx, engineId);
  return refused ? { privileged: false, explicit: false, downgraded: refused } : { privileged: true, explicit: false };
}

export function downgradeWarning(reason: string): string {
  return `this Docker host cannot start privileged containers (${reason}): the VM runs unprivileged instead, with CAP_SYS_ADMIN for its agent's mounts. Set privileged: false in the CPI's configuration to say so and skip this check, or fix the engine's capability bounding set`;
}

/** What the CPI adds to the container's capabilities and device cgroup. */
export function securityFor(p: { privileged: boolean; agent: boolean; blockMinors?: number[]; deviceRules?: string[] }): SecurityExtras | undefined {
  if (p.privileged) return undefined;
  return {
    capAdd: p.agent || p.blockMinors ? ['SYS_ADMIN'] : [],
    capDrop: p.blockMinors ? ['MKNOD'] : [],
    deviceRules: p.deviceRules ?? [],
  };
}
