/**
 * The OmniCloud backend's start-up cost: has_vm through the shipped docker (CLI) and docker-api
 * (Engine API) providers on a container of the bench's own, beside a bare node, the same docker
 * CLI call, and info. The load cache is warm (the first call writes the shell analysis and the
 * mark that the file is verified), as every call but the first after a provider file changes finds
 * it; the cold case removes both each time, so it shows what checking the whole file and loading
 * the shell parser cost.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeConfig } from '../../tests/helpers/cpi';
import { cleanupLabelled } from '../../tests/helpers/docker';
import { buildStemcell } from '../../tests/helpers/stemcell';
import { cpi, nodeBare, sh } from './process';
import type { Ctx, Section } from './types';

const LABEL = `io.bosh-container-cpi.bench-omni.${process.pid}`;

interface OmniCtx extends Ctx {
  docker: string;
  dockerApi: string;
  cache: string;
  name: string;
}

function hasVm(config: string, name: string): void {
  const found = cpi({ method: 'has_vm', arguments: [name], context: { director_uuid: 'bench' }, api_version: 2 }, ['-configPath', config]);
  if (found !== true) throw new Error(`has_vm ${name} answered ${JSON.stringify(found)}`);
}

async function setup(): Promise<OmniCtx> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpi-bench-omni-'));
  // A state directory (so a load cache) per provider: the cold case empties only the docker provider's.
  const state = (provider: string) => path.join(dir, `state-${provider}`);
  const config = (provider: string) => writeConfig({ backend: 'omnicloud', state_dir: state(provider), labels: { [LABEL]: 'true' }, omnicloud: { provider } }, fs.mkdtempSync(path.join(dir, `${provider}-`)));
  const sc = await buildStemcell({ init: 'runit' }, dir);
  const image = `omni-bench-${process.pid}`;
  sh('docker', ['import', '--change', `LABEL ${LABEL}=true`, sc.imagePath, image]);
  const name = `vm-omni-bench-${process.pid}`;
  sh('docker', ['create', '--name', name, '--label', `${LABEL}=true`, '--network', 'none', image, '/bin/sh']);
  const ctx: OmniCtx = { docker: config('docker'), dockerApi: config('docker-api'), cache: path.join(state('docker'), 'omnicloud', 'cache'), name };
  hasVm(ctx.docker, name); // writes the shell analysis and the validation cache
  hasVm(ctx.dockerApi, name);
  return ctx;
}

export const omnicloudSection: Section = {
  key: 'omnicloud',
  title: 'OmniCloud backend',
  setup,
  teardown: async () => void (await cleanupLabelled('true', LABEL)),
  cases: [
    { name: 'node -e 0', run: nodeBare },
    { name: 'docker CLI: container inspect', run: (c) => void sh('docker', ['container', 'inspect', (c as OmniCtx).name]) },
    { name: 'info', floor: 'node -e 0', run: () => void cpi({ method: 'info', arguments: [], context: {} }) },
    { name: 'has_vm (omnicloud, docker provider)', floor: 'node -e 0', run: (c) => hasVm((c as OmniCtx).docker, (c as OmniCtx).name) },
    { name: 'has_vm (omnicloud, docker-api provider)', floor: 'node -e 0', run: (c) => hasVm((c as OmniCtx).dockerApi, (c as OmniCtx).name) },
    {
      name: 'has_vm (omnicloud, docker provider, load cache cold)',
      floor: 'has_vm (omnicloud, docker provider)',
      run: (c) => {
        const ctx = c as OmniCtx;
        for (const f of fs.readdirSync(ctx.cache)) if (f.startsWith('shell-') || f.startsWith('verified-')) fs.rmSync(path.join(ctx.cache, f));
        hasVm(ctx.docker, ctx.name);
      },
    },
  ],
};
