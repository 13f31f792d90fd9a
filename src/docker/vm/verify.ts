/**
 * create_vm succeeds only for a container that boots: running, its PID 1 past the CPI's preamble
 * (the exec of the init the start mode chose succeeded), and still running a short settle window
 * after the start. A forced systemd start on a runit image used to exit 127 at once while
 * create_vm reported success, and the bosh CLI then waited ten minutes for an agent.
 */
import * as fs from 'node:fs';
import { VMCreationFailed } from '../../rpc/errors';
import type { DockerContext } from '../context';
import { seg } from '../engine/client';
import { isLocalEndpoint } from '../engine/endpoint';
import type { ContainerInspect } from '../engine/types';
import { readBody } from '../engine/transport';
import { inspectContainer } from './find';
import { containerProcs, isForwardingInit } from './procs';
import type { StartPlan } from './start-mode';

/**
 * PID 1's command line (under Docker's init: its child's), from /proc on the engine's own host,
 * else through the engine (docker top).
 */
async function pid1Command(ctx: DockerContext, c: ContainerInspect): Promise<string[] | undefined> {
  if (isLocalEndpoint(ctx.engine.endpoint)) {
    try {
      const cmd = fs.readFileSync(`/proc/${c.State.Pid}/cmdline`, 'latin1').split('\0').filter(Boolean);
      return isForwardingInit(cmd) ? containerProcs(c.Id, c.State.Pid)?.find((p) => p.ppid === c.State.Pid)?.args : cmd;
    } catch {
      return undefined;
    }
  }
  const top = await ctx.engine.request<{ Titles?: string[]; Processes?: string[][] }>('GET', `/containers/${seg(c.Id)}/top`, { query: { ps_args: '-o pid,ppid,args' } });
  const rows = top.Processes ?? [];
  const pid1 = rows.find((p) => p[0] === String(c.State.Pid));
  const row = isForwardingInit((pid1?.[2] ?? '').split(' ')) ? rows.find((p) => p[1] === String(c.State.Pid)) : pid1;
  return row ? (row[2] ?? '').split(' ') : undefined;
}

/** Whether PID 1 has exec'd past the preamble (`sh -c … bosh-cpi-init`, then `env -i` for runit). */
function pastPreamble(cmd: string[] | undefined): boolean {
  if (!cmd || cmd.length === 0) return false;
  return !cmd.includes('bosh-cpi-init') && !/(^|\/)env$/.test(cmd[0] as string);
}

/** The last lines the container printed, for the failure message. */
async function logTail(ctx: DockerContext, id: string): Promise<string> {
  try {
    const res = await ctx.engine.stream('GET', `/containers/${seg(id)}/logs`, { query: { stdout: true, stderr: true, tail: 20 } });
    const buf = await readBody(res);
    let out = '';
    for (let i = 0; i + 8 <= buf.length; i += 8 + buf.readUInt32BE(i + 4)) out += buf.subarray(i + 8, i + 8 + buf.readUInt32BE(i + 4)).toString('utf8');
    return out.trim().split('\n').slice(-10).join('\n').slice(-1500);
  } catch {
    return '';
  }
}

async function stopped(ctx: DockerContext, cid: string, c: ContainerInspect, plan: StartPlan): Promise<VMCreationFailed> {
  const how = plan.program ? `${plan.mode} start: ${plan.program}` : `${plan.mode} start`;
  const tail = await logTail(ctx, c.Id);
  const status = c.State?.OOMKilled ? 'was killed for lack of memory' : `exited with code ${c.State?.ExitCode}`;
  return new VMCreationFailed(`VM ${cid}'s container ${status} right after it started (${how})${tail ? `; its last output: ${tail}` : ' and printed nothing'}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until the container has proved it boots; returns its inspect from then. `startedAt`: when
 * the start request returned. Fails with VMCreationFailed (exit code, last output) otherwise.
 */
export async function verifyBoot(ctx: DockerContext, cid: string, id: string, plan: StartPlan, startedAt: number): Promise<ContainerInspect> {
  const settleMs = ctx.config.start_settle_seconds * 1000;
  const deadline = startedAt + Math.max(settleMs, 1000) + ctx.config.docker.request_timeout_seconds * 1000;
  let bootedAt: number | undefined;
  for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
    const c = await inspectContainer(ctx, id);
    if (!c) throw new VMCreationFailed(`VM ${cid}'s container vanished right after it started`);
    if (!c.State?.Running) throw await stopped(ctx, cid, c, plan);
    const booted = plan.mode === 'command' || pastPreamble(await pid1Command(ctx, c));
    if (booted && !bootedAt) bootedAt = Date.now();
    if (booted && Date.now() - startedAt >= settleMs) {
      ctx.log.debug('VM booted', { cid, init_ms: (bootedAt as number) - startedAt, started_at: c.State.StartedAt, verified_ms: Date.now() - startedAt });
      return c;
    }
    if (Date.now() > deadline) throw new VMCreationFailed(`VM ${cid}'s container did not get past its start script to ${plan.program ?? 'its command'} in time`, true);
    await sleep(booted ? Math.max(1, settleMs - (Date.now() - startedAt)) : wait);
  }
}
