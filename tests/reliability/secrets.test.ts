/**
 * Secrets at debug log level. Every bin/cpi run of every suite already runs at debug level and
 * fails on a leaked secret (tests/helpers/cpi.ts); this file makes sure the debug lines really
 * are written and walks the paths that carry the most secrets: a Docker VM with the Director's
 * env (mbus certificates, VM password, blobstore credentials) under a config with an mbus
 * password, TLS material and blobstore credentials, failures included, and an OmniCloud action
 * whose secret parameter its program echoes back.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { call, writeConfig } from '../helpers/cpi';
import { Lab, NOTHING_LEFT, SUBNETS } from '../helpers/lab';
import { directorEnv, leakedSecrets, SECRETS } from '../helpers/secrets';

describe('secrets at debug level', () => {
  const lab = new Lab('secrets', SUBNETS.secrets);
  afterAll(async () => expect(await lab.finish()).toEqual(NOTHING_LEFT));

  it('never reach STDERR or the response through the Docker backend, on success and failure', async () => {
    const stemcell = await lab.stemcell('runit');
    const env = directorEnv({ tags: { team: 'infra' } });
    const created = await lab.call('create_vm', ['agent-secrets', stemcell, {}, { default: lab.manual(1, 10) }, [], env]);
    expect(created.response.error).toBeNull();
    // The request, with its env, was logged at debug level: redacted.
    expect(created.stderr).toContain('"msg":"request"');
    expect(created.stderr).toContain('<redacted>');
    const [vm] = created.response.result as [string];

    // Failures log at error level and put their lines in the response's log.
    const failed = await lab.call('create_vm', ['agent-secrets-2', stemcell, { memory: 'lots' }, { default: lab.manual(1, 11) }, [], env]);
    expect(failed.response.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
    expect(failed.response.log).not.toBe('');
    const badConfig = writeConfig({ docker: { host: 'unix:///var/run/docker.sock', tls: { ca: SECRETS.tlsCert, certificate: SECRETS.tlsCert, private_key: SECRETS.tlsKey, extra: 1 } }, agent: { mbus: `nats://nats:${SECRETS.mbusPassword}@h:4222` } });
    const invalid = await call({ method: 'has_vm', arguments: [vm] }, { args: ['-configPath', badConfig] });
    expect(invalid.response.error?.message).toContain("docker.tls: unknown key 'extra'");

    await lab.ok('set_vm_metadata', [vm, { deployment: 'd', password: SECRETS.vmPassword }]);
    await lab.ok('delete_vm', [vm]);
  });

  it('never reach STDERR or the response through the OmniCloud backend, even when the provider echoes them', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'omni-secrets-'));
    const providers = path.join(root, 'providers');
    fs.mkdirSync(providers);
    fs.writeFileSync(
      path.join(providers, 'leaky.json'),
      JSON.stringify({
        name: 'leaky',
        type: 'command',
        secret_params: ['api_key'],
        actions: {
          get_worker: { command: "sh -c 'echo \"denied for key $1\" >&2; exit 1' sh {api_key}", params: ['api_key', 'worker_id'] },
          reboot_worker: { command: "sh -c 'echo \"{\\\"token\\\": \\\"$1\\\"}\"' sh {api_key}", params: ['api_key', 'worker_id'] },
        },
      }),
    );
    const cfg = writeConfig({
      backend: 'omnicloud',
      state_dir: path.join(root, 'state'),
      log_level: 'debug',
      omnicloud: { providers_dir: providers, provider: 'leaky', settings: { api_key: SECRETS.omnicloudApiKey }, method_map: { has_vm: 'get_worker', reboot_vm: 'reboot_worker' } },
    });
    const failed = await call({ method: 'has_vm', arguments: ['w-1'] }, { args: ['-configPath', cfg] });
    expect(failed.response.error).not.toBeNull();
    expect(failed.stderr).toContain('"msg":"request"');
    const ok = await call({ method: 'reboot_vm', arguments: ['w-1'] }, { args: ['-configPath', cfg] });
    expect(leakedSecrets(ok.stdout + ok.stderr)).toEqual([]);
    fs.rmSync(root, { recursive: true, force: true });
  });
});
