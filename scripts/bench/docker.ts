/** Benchmark sections for the Docker backend, each beside the same engine work done with the docker CLI. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeConfig } from '../../tests/helpers/cpi';
import { cleanupLabelled } from '../../tests/helpers/docker';
import { manualNetwork, SUBNETS } from '../../tests/helpers/lab';
import { buildStemcell } from '../../tests/helpers/stemcell';
import { cpi, nodeBare, sh } from './process';
import type { Ctx, Section } from './types';

// Per run: the teardown removes what this run made, never another run's (on a shared engine).
const LABEL = `io.bosh-container-cpi.bench.${process.pid}`;
/** Each setup (there are two per section in a before/after run) gets a subnet and network of its own. */
let setups = 0;

interface DockerBenchCtx extends Ctx {
  subnet: string;
  config: string;
  stemcell: string;
  /** The stemcell's image file (create_stemcell's argument). */
  image: string;
  network: string;
  vm: string;
  seq: number;
  /** The VM or container the next timed delete removes (made by a case's `before`). */
  pending?: string;
  /** A stemcell whose start command ignores SIGTERM as PID 1. */
  stubborn?: string;
}

function req(method: string, args: unknown[]) {
  return { method, arguments: args, context: { director_uuid: 'bench' }, api_version: 2 };
}

async function dockerSetup(): Promise<DockerBenchCtx> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpi-bench-'));
  const config = writeConfig({ agent: { mbus: 'https://mbus:p@0.0.0.0:6868' }, privileged: false, state_dir: path.join(dir, 'state'), labels: { [LABEL]: 'true' }, stop_timeout_seconds: 10 }, dir);
  const sc = await buildStemcell({ init: 'runit' }, dir);
  const stemcell = cpi(req('create_stemcell', [sc.imagePath, sc.cloudProperties]), ['-configPath', config]) as string;
  const n = setups++;
  const subnet = `10.${SUBNETS.bench}.${n}`;
  const network = `bosh-bench-${process.pid}-${n}`;
  sh('docker', ['network', 'create', '--label', `${LABEL}=true`, '--subnet', `${subnet}.0/24`, '--gateway', `${subnet}.1`, network]);
  const ctx: DockerBenchCtx = { subnet, config, stemcell, image: sc.imagePath, network, vm: '', seq: 10 };
  [ctx.vm] = cpi(req('create_vm', ['bench-agent', stemcell, {}, { default: net(ctx, 2) }, [], {}]), ['-configPath', config]) as [string];
  return ctx;
}

function net(ctx: DockerBenchCtx, host: number): Record<string, unknown> {
  return manualNetwork(ctx.subnet, host, { cloud_properties: { name: ctx.network } });
}

async function dockerTeardown(c: Ctx): Promise<void> {
  const ctx = c as DockerBenchCtx;
  try {
    cpi(req('delete_vm', [ctx.vm]), ['-configPath', ctx.config]);
    cpi(req('delete_stemcell', [ctx.stemcell]), ['-configPath', ctx.config]);
  } finally {
    // The network made by hand, and whatever an interrupted docker CLI case left.
    await cleanupLabelled('true', LABEL);
  }
}

/** The next free address in the bench subnet, cycling (VMs are deleted right after). */
function nextHost(ctx: DockerBenchCtx): number {
  ctx.seq = ctx.seq >= 250 ? 10 : ctx.seq + 1;
  return ctx.seq;
}

const CLI_CREATE_RM = 'docker CLI: create, start, rm -f';

export const vmSection: Section = {
  key: 'vm',
  title: 'VMs (Docker backend)',
  runs: Number(process.env['BENCH_VM_RUNS'] ?? 15),
  setup: async () => {
    const ctx = await dockerSetup();
    // A start command that, as PID 1, would ignore SIGTERM (a shell, sleep): the stop path's worst case.
    const sc = await buildStemcell({ init: 'runit', name: 'bench-stubborn', executables: { 'usr/sbin/runsvdir-start': '#!/bin/sh\nwhile :; do sleep 1; done\n' } }, path.dirname(ctx.config));
    ctx.stubborn = cpi(req('create_stemcell', [sc.imagePath, sc.cloudProperties]), ['-configPath', ctx.config]) as string;
    return ctx;
  },
  teardown: async (c) => {
    cpi(req('delete_stemcell', [(c as DockerBenchCtx).stubborn]), ['-configPath', (c as DockerBenchCtx).config]);
    await dockerTeardown(c);
  },
  cases: [
    { name: 'node -e 0', run: nodeBare },
    {
      name: 'has_vm',
      cpi: true,
      floor: 'node -e 0',
      run: (c) => void cpi(req('has_vm', [(c as DockerBenchCtx).vm]), ['-configPath', (c as DockerBenchCtx).config]),
      target: (ms, m) => ({ text: '≤ node + 25 ms', met: ms <= (m.get('node -e 0') ?? 0) + 25 }),
    },
    {
      // The engine operations create_vm and delete_vm make, one docker CLI call each.
      name: 'docker CLI: the same 13 operations',
      run: (c) => {
        const ctx = c as DockerBenchCtx;
        const name = `bench-floor-${process.pid}-${ctx.seq}`;
        const vol = `vol-eph-${name}`;
        sh('docker', ['image', 'inspect', ctx.stemcell]);
        sh('docker', ['network', 'inspect', ctx.network]);
        sh('docker', ['volume', 'create', '--label', `${LABEL}=true`, vol]);
        sh('docker', ['create', '--name', name, '--label', `${LABEL}=true`, '--label', `bosh.cpi.vm-cid=${name}`, '--network', ctx.network, '--ip', `${ctx.subnet}.${nextHost(ctx)}`, '--mount', `type=volume,source=${vol},target=/var/vcap/data`, '--entrypoint', '/bin/sh', ctx.stemcell, '-c', 'exec env -i "$1"', 'x', '/usr/sbin/runsvdir-start']);
        sh('docker', ['start', name]);
        sh('docker', ['inspect', name]);
        sh('docker', ['ps', '-a', '-q', '--filter', `label=bosh.cpi.vm-cid=${name}`]);
        sh('docker', ['inspect', name]);
        sh('docker', ['stop', '-t', '10', name]);
        sh('docker', ['rm', '-f', '-v', name]);
        sh('docker', ['volume', 'rm', vol]);
        sh('docker', ['network', 'inspect', ctx.network]);
        sh('docker', ['image', 'inspect', ctx.stemcell]);
      },
    },
    {
      name: 'docker CLI: minimal (create, start, stop, rm)',
      run: (c) => {
        const ctx = c as DockerBenchCtx;
        const name = `bench-min-${process.pid}-${ctx.seq}`;
        sh('docker', ['create', '--name', name, '--label', `${LABEL}=true`, '--network', ctx.network, '--ip', `${ctx.subnet}.${nextHost(ctx)}`, '--entrypoint', '/bin/sh', ctx.stemcell, '-c', 'exec env -i "$1"', 'x', '/usr/sbin/runsvdir-start']);
        sh('docker', ['start', name]);
        sh('docker', ['stop', '-t', '10', name]);
        sh('docker', ['rm', '-f', '-v', name]);
      },
    },
    {
      // The Go CPI's own lifecycle of a container: create, start, remove with force.
      name: CLI_CREATE_RM,
      run: (c) => {
        const ctx = c as DockerBenchCtx;
        const name = `bench-crm-${process.pid}-${ctx.seq}`;
        cliCreate(ctx, name, ctx.stemcell);
        sh('docker', ['start', name]);
        sh('docker', ['rm', '-f', '-v', name]);
      },
    },
    {
      name: 'create_vm + delete_vm',
      cpi: true,
      floor: CLI_CREATE_RM,
      run: (c) => {
        const ctx = c as DockerBenchCtx;
        const [cid] = cpi(req('create_vm', ['bench', ctx.stemcell, {}, { default: net(ctx, nextHost(ctx)) }, [], {}]), ['-configPath', ctx.config]) as [string];
        cpi(req('delete_vm', [cid]), ['-configPath', ctx.config]);
      },
      target: (ms, m) => ({ text: '≤ 1.1× docker CLI', met: ms <= 1.1 * (m.get(CLI_CREATE_RM) ?? 0) }),
    },
    ...deleteCases('', (ctx) => ctx.stemcell),
    ...deleteCases(' (PID 1 ignores SIGTERM)', (ctx) => ctx.stubborn as string),
  ],
};


/** The container create_vm makes, as the docker CLI makes it (the runit start through sh). */
function cliCreate(ctx: DockerBenchCtx, name: string, image: string): void {
  sh('docker', ['create', '--name', name, '--label', `${LABEL}=true`, '--network', ctx.network, '--ip', `${ctx.subnet}.${nextHost(ctx)}`, '--entrypoint', '/bin/sh', image, '-c', 'exec env -i "$1"', 'x', '/usr/sbin/runsvdir-start']);
}

/** delete_vm of a running VM (made untimed before each run) beside `docker rm -f` of a running container. */
function deleteCases(suffix: string, stemcell: (ctx: DockerBenchCtx) => string): Section['cases'] {
  const floor = `docker CLI: rm -f${suffix}`;
  return [
    {
      name: floor,
      before: (c) => {
        const ctx = c as DockerBenchCtx;
        ctx.pending = `bench-rm-${process.pid}-${ctx.seq}`;
        cliCreate(ctx, ctx.pending as string, stemcell(ctx));
        sh('docker', ['start', ctx.pending as string]);
      },
      run: (c) => void sh('docker', ['rm', '-f', '-v', (c as DockerBenchCtx).pending as string]),
    },
    {
      name: `delete_vm${suffix}`,
      cpi: true,
      floor,
      before: (c) => {
        const ctx = c as DockerBenchCtx;
        [ctx.pending] = cpi(req('create_vm', ['bench', stemcell(ctx), {}, { default: net(ctx, nextHost(ctx)) }, [], {}]), ['-configPath', ctx.config]) as [string];
      },
      run: (c) => void cpi(req('delete_vm', [(c as DockerBenchCtx).pending]), ['-configPath', (c as DockerBenchCtx).config]),
      target: (ms, m) => ({ text: '≤ docker CLI + 100 ms', met: ms <= (m.get(floor) ?? 0) + 100 }),
    },
  ];
}

interface DiskBenchCtx extends DockerBenchCtx {
  disk: string;
}

export const diskSection: Section = {
  key: 'disk',
  title: 'persistent disks (Docker backend)',
  runs: Number(process.env['BENCH_DISK_RUNS'] ?? 15),
  setup: async () => {
    const ctx = (await dockerSetup()) as DiskBenchCtx;
    ctx.disk = cpi(req('create_disk', [64, {}, ctx.vm]), ['-configPath', ctx.config]) as string;
    return ctx;
  },
  teardown: async (c) => {
    const ctx = c as DiskBenchCtx;
    try {
      cpi(req('delete_disk', [ctx.disk]), ['-configPath', ctx.config]);
    } finally {
      await dockerTeardown(ctx);
    }
  },
  cases: [
    {
      // What the Go CPI's attach+detach costs at least: the container restarted twice (it recreates it).
      name: 'docker restart ×2 (the recreate floor)',
      run: (c) => {
        const ctx = c as DiskBenchCtx;
        sh('docker', ['restart', '-t', '10', ctx.vm]);
        sh('docker', ['restart', '-t', '10', ctx.vm]);
      },
    },
    {
      name: 'attach_disk + detach_disk',
      cpi: true,
      floor: 'docker restart ×2 (the recreate floor)',
      run: (c) => {
        const ctx = c as DiskBenchCtx;
        cpi(req('attach_disk', [ctx.vm, ctx.disk]), ['-configPath', ctx.config]);
        cpi(req('detach_disk', [ctx.vm, ctx.disk]), ['-configPath', ctx.config]);
      },
      target: (ms) => ({ text: '≤ 230 ms', met: ms <= 230 }),
    },
  ],
};

/** More methods, each beside the same work done with the docker CLI or a bare node start. */
export const methodsSection: Section = {
  key: 'methods',
  title: 'more methods (Docker backend)',
  runs: Number(process.env['BENCH_METHOD_RUNS'] ?? 10),
  setup: dockerSetup,
  teardown: dockerTeardown,
  cases: [
    { name: 'node -e 0', run: nodeBare },
    {
      name: 'get_disks',
      cpi: true,
      floor: 'node -e 0',
      run: (c) => void cpi(req('get_disks', [(c as DockerBenchCtx).vm]), ['-configPath', (c as DockerBenchCtx).config]),
    },
    {
      name: 'set_vm_metadata',
      cpi: true,
      floor: 'node -e 0',
      run: (c) => void cpi(req('set_vm_metadata', [(c as DockerBenchCtx).vm, { deployment: 'bench', job: 'web', index: String((c as DockerBenchCtx).seq++ % 3) }]), ['-configPath', (c as DockerBenchCtx).config]),
    },
    {
      // What create_disk does besides its own start-up: a volume, and an ext4 filesystem in it.
      name: 'docker CLI: volume create, mkfs.ext4, rm',
      run: (c) => {
        const name = `bench-vol-${process.pid}-${(c as DockerBenchCtx).seq++}`;
        const dir = sh('docker', ['volume', 'create', '--label', `${LABEL}=true`, name]) && sh('docker', ['volume', 'inspect', '-f', '{{.Mountpoint}}', name]);
        sh('truncate', ['-s', '64M', `${dir}/disk.img`]);
        sh('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', 'lazy_itable_init=1,lazy_journal_init=1', `${dir}/disk.img`]);
        sh('docker', ['volume', 'rm', name]);
      },
    },
    {
      name: 'create_disk + delete_disk',
      cpi: true,
      floor: 'docker CLI: volume create, mkfs.ext4, rm',
      run: (c) => {
        const ctx = c as DockerBenchCtx;
        const disk = cpi(req('create_disk', [64, {}, ctx.vm]), ['-configPath', ctx.config]) as string;
        cpi(req('delete_disk', [disk]), ['-configPath', ctx.config]);
      },
    },
    {
      name: 'docker CLI: import + rmi',
      run: (c) => {
        const tag = `bench-import:${process.pid}-${(c as DockerBenchCtx).seq++}`;
        sh('docker', ['import', '--change', `LABEL ${LABEL}=true`, (c as DockerBenchCtx).image, tag]);
        sh('docker', ['rmi', tag]);
      },
    },
    {
      name: 'create_stemcell + delete_stemcell',
      cpi: true,
      floor: 'docker CLI: import + rmi',
      run: (c) => {
        const ctx = c as DockerBenchCtx;
        const sc = cpi(req('create_stemcell', [ctx.image, { name: 'bench', version: '1' }]), ['-configPath', ctx.config]) as string;
        cpi(req('delete_stemcell', [sc]), ['-configPath', ctx.config]);
      },
    },
  ],
};
