/**
 * npm run demo: a BOSH lifecycle driven through bin/cpi against the local Docker engine, the way
 * the Director would call it, printing every request and response.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CPI, writeConfig } from '../tests/helpers/cpi';
import { manualNetwork, SUBNETS } from '../tests/helpers/lab';
import { buildStemcell } from '../tests/helpers/stemcell';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cpi-demo-'));
const configFile = writeConfig(
  {
    docker: { host: process.env['DOCKER_HOST'] ?? 'unix:///var/run/docker.sock' },
    agent: { mbus: 'https://mbus:demo-password@0.0.0.0:6868', ntp: ['0.pool.ntp.org'] },
    // These Debian machines cannot start privileged containers (see README).
    privileged: false,
    state_dir: path.join(work, 'state'),
    labels: { 'io.bosh-container-cpi.demo': 'true' },
    stop_timeout_seconds: 5,
  },
  work,
);

const context = { director_uuid: 'demo-director', request_id: 'cpi-000001', vm: { stemcell: { api_version: 3 } } };
let step = 0;

/** Runs a command inside the VM's container, the way an operator would look. */
function inside(vm: string, script: string): string {
  const id = spawnSync('docker', ['ps', '-q', '--filter', `label=bosh.cpi.vm-cid=${vm}`], { encoding: 'utf8' }).stdout.trim();
  const r = spawnSync('docker', ['exec', id, '/bin/sh', '-c', script], { encoding: 'utf8' });
  console.log(`    $ docker exec ${vm.slice(0, 14)}… sh -c '${script}'\n${(r.stdout + r.stderr).trim().replace(/^/gm, '      ')}`);
  return r.stdout;
}

function call(method: string, args: unknown[]): unknown {
  step++;
  const request = { method, arguments: args, context, api_version: 2 };
  const t = Date.now();
  const r = spawnSync(CPI, ['-configPath', configFile], { input: JSON.stringify(request), encoding: 'utf8' });
  const ms = Date.now() - t;
  const shown = JSON.stringify(args, (_k, v: unknown) => (typeof v === 'string' && v.length > 60 ? v.slice(0, 57) + '…' : v));
  console.log(`\n${String(step).padStart(2)}. ${method}(${shown.slice(1, -1)})  [${ms} ms, exit ${r.status}]`);
  const res = JSON.parse(r.stdout) as { result: unknown; error: { type: string; message: string } | null };
  if (res.error) {
    console.log(`    ✗ ${res.error.type}: ${res.error.message}`);
    if (r.stderr.trim()) console.log(r.stderr.trim().replace(/^/gm, '    | '));
    throw new Error(`${method} failed`);
  }
  console.log(`    → ${JSON.stringify(res.result)}`);
  return res.result;
}

async function main(): Promise<void> {
  console.log(`bin/cpi demo against ${process.env['DOCKER_HOST'] ?? 'unix:///var/run/docker.sock'}; config ${configFile}`);
  const stemcell = await buildStemcell({ init: 'runit' }, work);
  const cleanup: Array<() => void> = [];
  try {
    call('info', []);
    const sc = call('create_stemcell', [stemcell.imagePath, stemcell.cloudProperties, { tags: { demo: 'true' } }]) as string;
    cleanup.unshift(() => call('delete_stemcell', [sc]));
    const networks = { default: manualNetwork(`10.${SUBNETS.demo}.77`, 10, { cloud_properties: { name: 'bosh-demo' } }) };
    const [vm] = call('create_vm', ['demo-agent-0001', sc, { cpus: 1, memory: 256, ports: ['127.0.0.1:26868:6868/tcp'] }, networks, [], { bosh: { tags: { demo: 'true' } } }]) as [string];
    cleanup.unshift(() => call('delete_vm', [vm]));
    inside(vm, "sed -e 's/:[^:@]*@/:<redacted>@/' /var/vcap/bosh/warden-cpi-agent-env.json | cut -c1-160; echo; df -h /var/vcap/data | tail -1");
    call('has_vm', [vm]);
    call('set_vm_metadata', [vm, { director: 'demo', deployment: 'demo', job: 'web', index: '0', name: 'web/0' }]);
    const disk = call('create_disk', [1024, {}, vm]) as string;
    cleanup.unshift(() => call('delete_disk', [disk]));
    const hint = call('attach_disk', [vm, disk]) as string;
    inside(vm, `df -h ${hint} | tail -1; echo written-while-attached > ${hint}/hello; cat ${hint}/hello`);
    call('get_disks', [vm]);
    call('detach_disk', [vm, disk]);
    inside(vm, 'ls /warden-cpi-dev; cat /var/vcap/data/sys/boots | wc -l');
    call('reboot_vm', [vm]);
  } finally {
    for (const f of cleanup) {
      try {
        f();
      } catch {
        /* reported above */
      }
    }
    if (step) call('has_vm', ['c-demo-does-not-exist']);
  }
  console.log('\ndemo finished: everything it created was deleted again.');
}

main().catch((e: unknown) => {
  console.error(`\ndemo failed: ${(e as Error).message}`);
  process.exit(1);
});
