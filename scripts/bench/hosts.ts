/**
 * Many hosts: 20 parallel create_vm spread over two engines, beside the same 20 on one of them;
 * and a disk's attach + detach on a remote engine, live (a helper on its host) beside recreate.
 * The engines are the two-engine tests' (tests/helpers/engine-pair.ts: own network namespaces,
 * mutual TLS, a Swarm manager and worker) and every VM joins one attachable overlay with a
 * static IP, as a deployment over AZs on several hosts would. Calls are routed by their
 * cpi-config context. Both engines share this machine's CPUs, so the figure shows what the CPI
 * and the engines cost under parallel load, not what more hosts would add.
 *
 *   BENCH_ONLY=hosts BENCH_HOSTS_RUNS=3 BENCH_HOSTS_VMS=20 npm run bench
 */
import * as path from 'node:path';
import { call, type CpiRun } from '../../tests/helpers/cpi';
import { TEST_LABEL } from '../../tests/helpers/docker';
import { EnginePair, type HostEngine } from '../../tests/helpers/engine-pair';
import { Lab, SUBNETS, stemcellFiles } from '../../tests/helpers/lab';
import type { Case, Ctx, Section } from './types';

const VMS = Number(process.env['BENCH_HOSTS_VMS'] ?? 20);
const ONE = `${VMS} parallel create_vm, one engine`;

interface HostsCtx extends Ctx {
  lab: Lab;
  pair: EnginePair;
  overlay: string;
  stemcells: Map<HostEngine, string>;
  /** VMs of the last timed run, deleted (untimed) before the next one. */
  made: Array<{ engine: HostEngine; cid: string }>;
  /** The attach cases' VM and disk per engine, made once, removed at teardown. */
  disks: Map<HostEngine, { vm: string; disk: string }>;
  seq: number;
}

/** Failures per case over all its runs, and how many create_vm calls it made. */
const tally = new Map<string, { failures: number; calls: number }>();

function cpiOn(ctx: HostsCtx, e: HostEngine, method: string, args: unknown[]): Promise<CpiRun> {
  // At the CPI's default log level, as the Director runs it (the test helper's default is debug).
  return call({ method, arguments: args, context: { director_uuid: 'bench', ...ctx.pair.context(e) } }, { args: ['-configPath', ctx.lab.configFile], env: { BOSH_CPI_LOG_LEVEL: undefined } });
}

async function setup(): Promise<HostsCtx> {
  const lab = new Lab('bench-hosts', SUBNETS.benchHosts, { docker: { host: 'unix:///run/bosh-cpi-bench-no-engine.sock' }, stop_timeout_seconds: 10 });
  const pair = await EnginePair.start({ octet: lab.octet, hide: path.dirname(lab.configFile) });
  const ctx: HostsCtx = { lab, pair, overlay: `bench-${lab.runId}`, stemcells: new Map(), made: [], disks: new Map(), seq: 0 };
  try {
    pair.overlay(ctx.overlay, `${lab.ip(0, 0)}/20`, lab.ip(0, 1), { [TEST_LABEL]: lab.runId });
    const sc = await stemcellFiles('runit');
    for (const e of pair.engines) {
      const r = await cpiOn(ctx, e, 'create_stemcell', [sc.imagePath, sc.cloudProperties]);
      if (r.response.error) throw new Error(`create_stemcell on ${e.label}: ${r.response.error.message}`);
      ctx.stemcells.set(e, r.response.result as string);
    }
    return ctx;
  } catch (e) {
    await pair.destroy();
    throw e;
  }
}

async function teardown(c: Ctx): Promise<void> {
  const ctx = c as HostsCtx;
  try {
    await deleteMade(ctx);
    for (const [e, { vm, disk }] of ctx.disks) {
      await cpiOn(ctx, e, 'delete_vm', [vm]);
      await cpiOn(ctx, e, 'delete_disk', [disk]);
    }
    for (const [e, sc] of ctx.stemcells) await cpiOn(ctx, e, 'delete_stemcell', [sc]);
  } finally {
    await ctx.pair.destroy();
    await ctx.lab.finish();
  }
}

/**
 * The next static IP on the overlay (10.<octet>.0.0/20; 10.<octet>.0.x is left to the gateway
 * and the nodes' load-balancer endpoints). Never one just freed: the manager releases it later.
 */
function nextIp(ctx: HostsCtx): string {
  ctx.seq = (ctx.seq + 1) % (14 * 250);
  return ctx.lab.ip(Math.floor(ctx.seq / 250) + 1, (ctx.seq % 250) + 2);
}

async function deleteMade(ctx: HostsCtx): Promise<void> {
  await Promise.all(ctx.made.splice(0).map((vm) => cpiOn(ctx, vm.engine, 'delete_vm', [vm.cid])));
}

/** `VMS` create_vm calls at once, the i-th on engines[i % engines.length]. */
function parallelCreates(name: string, pick: (ctx: HostsCtx) => HostEngine[], floor?: string): Case {
  tally.set(name, { failures: 0, calls: 0 });
  return {
    name,
    ...(floor ? { floor } : {}),
    run: async (c) => {
      const ctx = c as HostsCtx;
      const engines = pick(ctx);
      const t = tally.get(name) as { failures: number; calls: number };
      await Promise.all(
        Array.from({ length: VMS }, async (_, i) => {
          const e = engines[i % engines.length] as HostEngine;
          const net = { type: 'manual', ip: nextIp(ctx), netmask: '255.255.240.0', gateway: ctx.lab.ip(0, 1), default: ['dns', 'gateway'], cloud_properties: { name: ctx.overlay, driver: 'overlay' } };
          const r = await cpiOn(ctx, e, 'create_vm', [`bench-${i}`, ctx.stemcells.get(e), {}, { default: net }, [], {}]);
          t.calls++;
          if (r.response.error) t.failures++;
          else ctx.made.push({ engine: e, cid: (r.response.result as [string])[0] });
        }),
      );
    },
    after: (c) => deleteMade(c as HostsCtx),
    target: () => {
      const t = tally.get(name) as { failures: number; calls: number };
      return { text: `${t.failures} failures in ${t.calls} calls`, met: t.failures === 0 };
    },
  };
}

const LIVE = 'attach_disk + detach_disk, remote engine, live (a helper on its host)';
const RECREATE = 'attach_disk + detach_disk, remote engine without loop devices (recreate)';

/** One VM and one directory disk on `e`, made once; each run attaches and detaches the disk. */
function remoteAttach(name: string, pick: (ctx: HostsCtx) => HostEngine, floor?: string): Case {
  const ok = async (ctx: HostsCtx, e: HostEngine, method: string, args: unknown[]) => {
    const r = await cpiOn(ctx, e, method, args);
    if (r.response.error) throw new Error(`${method} on ${e.label}: ${r.response.error.message}`);
    return r.response.result;
  };
  return {
    name,
    ...(floor ? { floor } : {}),
    before: async (c) => {
      const ctx = c as HostsCtx;
      const e = pick(ctx);
      if (ctx.disks.has(e)) return;
      const [vm] = (await ok(ctx, e, 'create_vm', ['bench-disk', ctx.stemcells.get(e), {}, { default: { type: 'dynamic', cloud_properties: {} } }, [], {}])) as [string];
      ctx.disks.set(e, { vm, disk: (await ok(ctx, e, 'create_disk', [16, { backing: 'directory' }, vm])) as string });
    },
    run: async (c) => {
      const ctx = c as HostsCtx;
      const e = pick(ctx);
      const { vm, disk } = ctx.disks.get(e) as { vm: string; disk: string };
      await ok(ctx, e, 'attach_disk', [vm, disk]);
      await ok(ctx, e, 'detach_disk', [vm, disk]);
    },
    ...(floor ? { target: (ms: number, medians: Map<string, number>) => ({ text: '< the recreate', met: ms < (medians.get(floor) ?? 0) }) } : {}),
  };
}

export const hostsSection: Section = {
  key: 'hosts',
  title: `many hosts: ${VMS} parallel create_vm on one engine and on two (Swarm overlay, mutual TLS)`,
  runs: Number(process.env['BENCH_HOSTS_RUNS'] ?? 3),
  setup,
  teardown,
  cases: [
    parallelCreates(ONE, (ctx) => [ctx.pair.manager]),
    parallelCreates(`${VMS} parallel create_vm, two engines`, (ctx) => ctx.pair.engines, ONE),
    remoteAttach(RECREATE, (ctx) => ctx.pair.worker),
    remoteAttach(LIVE, (ctx) => ctx.pair.manager, RECREATE),
  ],
};
