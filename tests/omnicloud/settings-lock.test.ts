/**
 * attach_disk and detach_disk read, change and write the VM's agent settings: through bin/cpi
 * (a process per call, as the Director runs up to 32 at once), concurrent calls on one VM keep
 * every disk, because each holds the VM's cross-process lock; a call that cannot get the lock in
 * time fails retryably and has changed nothing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { acquire } from '../../src/docker/state/locks';
import { call, writeConfig } from '../helpers/cpi';
import { tmpDir } from './helpers';

const root = tmpDir('omni-lock-');
const providers = path.join(root, 'providers');
const state = path.join(root, 'state');
const settings = path.join(state, 's.json');
const attached = path.join(root, 'attach.log');
fs.mkdirSync(providers);
fs.mkdirSync(state);
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

fs.writeFileSync(
  path.join(providers, 'locky.json'),
  JSON.stringify({
    name: 'locky',
    type: 'container',
    actions: {
      attach_volume: { command: "sh -c 'echo \"$1\" >> \"$2\"; echo \"/warden-cpi-dev/$1\"' sh {volume} {log}", params: ['volume', 'log'] },
      detach_volume: { command: 'true {volume}', params: ['volume'] },
      // A slow read: two calls at once would both read the document before either writes it.
      read_agent_settings: { command: "sh -c 'cat \"$1/s.json\"; sleep 0.6' sh {state_dir}", params: ['state_dir'], parse_rules: { type: 'json' } },
      write_agent_settings: { command: "sh -c 'printf %s \"$1\" > \"$2/s.json\"' sh {agent_settings_json} {state_dir}", params: ['agent_settings_json', 'state_dir'] },
    },
  }),
);

const config = (lockS: number) => writeConfig({ backend: 'omnicloud', state_dir: state, lock_timeout_seconds: lockS, omnicloud: { provider: 'locky', providers_dir: providers, validate: false, settings: { log: attached } } }, fs.mkdtempSync(path.join(root, 'c-')));
const attach = (cfg: string, disk: string) => call({ method: 'attach_disk', arguments: ['vm-1', disk] }, { args: ['-configPath', cfg] });
const persistent = () => (JSON.parse(fs.readFileSync(settings, 'utf8')) as { disks: { persistent: Record<string, string> } }).disks.persistent;

beforeEach(() => {
  fs.writeFileSync(settings, JSON.stringify({ agent_id: 'a-1', disks: { system: '', persistent: {} } }));
  fs.writeFileSync(attached, '');
});

it('concurrent attach_disk calls on one VM keep every disk in its settings', async () => {
  const cfg = config(30);
  const runs = await Promise.all(['d-1', 'd-2', 'd-3'].map((d) => attach(cfg, d)));
  expect(runs.map((r) => r.response.error)).toEqual([null, null, null]);
  expect(persistent()).toEqual({ 'd-1': '/warden-cpi-dev/d-1', 'd-2': '/warden-cpi-dev/d-2', 'd-3': '/warden-cpi-dev/d-3' });
});

it('a call that cannot get the VM lock in time fails retryably, having attached and written nothing', async () => {
  const release = await acquire({ root: path.join(state, 'omnicloud'), waitMs: 1000 }, 'vm', 'vm-1');
  try {
    const r = await attach(config(1), 'd-9');
    expect(r.response.error).toMatchObject({ type: 'Bosh::Clouds::CloudError', ok_to_retry: true, message: expect.stringMatching(/VM vm-1 is busy/) });
  } finally {
    await release();
  }
  expect(fs.readFileSync(attached, 'utf8')).toBe('');
  expect(persistent()).toEqual({});
  expect((await attach(config(1), 'd-9')).response.error).toBeNull();
  expect(persistent()).toEqual({ 'd-9': '/warden-cpi-dev/d-9' });
});
