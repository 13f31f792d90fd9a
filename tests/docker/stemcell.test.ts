/** create_stemcell / delete_stemcell through bin/cpi against the real engine. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { docker, exists, inspect, TEST_LABEL } from '../helpers/docker';
import { Lab, NOTHING_LEFT, SUBNETS, stemcellFiles } from '../helpers/lab';
import { writeTarGz } from '../helpers/stemcell';

const lab = new Lab('stemcell', SUBNETS.stemcell);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stemcell-test-'));
afterAll(async () => expect(await lab.finish()).toEqual(NOTHING_LEFT));

async function ourImages(extraFilter?: string): Promise<string[]> {
  const args = ['images', '-q', '--no-trunc', '--filter', `label=${TEST_LABEL}=${lab.runId}`];
  if (extraFilter) args.push('--filter', extraFilter);
  return (await docker(...args)).split('\n').filter(Boolean);
}

describe('create_stemcell', () => {
  it('imports a runit stemcell, labelled with its name, version, OS, tags and init', async () => {
    const sc = await stemcellFiles('runit');
    const cid = await lab.ok<string>('create_stemcell', [sc.imagePath, { ...sc.cloudProperties, name: 'bosh-warden-boshlite-ubuntu-jammy-go_agent', version: '1.500' }, { tags: { team: 'infra' } }]);
    expect(cid).toMatch(/^bosh\.io\/stemcells:img-[0-9a-f-]{36}$/);
    const img = await inspect('image', cid);
    expect(img.Config.Labels).toMatchObject({
      'bosh.cpi.managed': 'true',
      'bosh.cpi.stemcell.name': 'bosh-warden-boshlite-ubuntu-jammy-go_agent',
      'bosh.cpi.stemcell.version': '1.500',
      'bosh.cpi.stemcell.os': 'ubuntu-jammy',
      'bosh.cpi.init': 'runit',
      'bosh.cpi.init-path': '/usr/sbin/runsvdir-start',
      'bosh.tag.team': 'infra',
      [TEST_LABEL]: lab.runId,
    });
    expect(img.Architecture).toBe('amd64');
    // The rootfs arrived whole.
    const out = await docker('run', '--rm', '--label', `${TEST_LABEL}=${lab.runId}`, '--entrypoint', '/bin/sh', cid, '-c', 'ls /bin/busybox /usr/sbin/runsvdir-start');
    expect(out.split('\n')).toEqual(['/bin/busybox', '/usr/sbin/runsvdir-start']);
    await lab.ok('delete_stemcell', [cid]);
    expect(await exists('image', cid)).toBe(false);
  });

  it('detects systemd and images without an init', async () => {
    for (const [init, expected] of [['systemd', 'systemd'], ['none', 'none']] as const) {
      const sc = await stemcellFiles(init);
      const cid = await lab.ok<string>('create_stemcell', [sc.imagePath, sc.cloudProperties]);
      expect((await inspect('image', cid)).Config.Labels['bosh.cpi.init']).toBe(expected);
      await lab.ok('delete_stemcell', [cid]);
    }
  });

  it('gives every import its own CID', async () => {
    const sc = await stemcellFiles('runit');
    const a = await lab.ok<string>('create_stemcell', [sc.imagePath, sc.cloudProperties]);
    const b = await lab.ok<string>('create_stemcell', [sc.imagePath, sc.cloudProperties]);
    expect(a).not.toBe(b);
    await lab.ok('delete_stemcell', [a]);
    expect(await exists('image', b)).toBe(true);
    await lab.ok('delete_stemcell', [b]);
  });

  describe('refuses a bad image file with a CloudError naming the file and the problem, leaving nothing', () => {
    const cases: Array<[string, () => Promise<string>, RegExp]> = [
      ['a missing file', async () => path.join(tmp, 'nope', 'image'), /stemcell image .*\/nope\/image does not exist/],
      ['a directory', async () => tmp, /is a directory/],
      ['an empty file', async () => { const f = path.join(tmp, 'empty'); fs.writeFileSync(f, ''); return f; }, /stemcell image .*empty is empty/],
      ['a file that is not gzip', async () => { const f = path.join(tmp, 'plain'); fs.writeFileSync(f, 'just some text, not a rootfs\n'.repeat(100)); return f; }, /plain is not gzip-compressed/],
      ['gzip that is not a tar', async () => { const f = path.join(tmp, 'notar.gz'); fs.writeFileSync(f, zlib.gzipSync(Buffer.from('hello '.repeat(500)))); return f; }, /notar.gz does not contain a tar archive/],
      ['an empty tar', async () => { const f = path.join(tmp, 'emptytar.gz'); await writeTarGz(f, []); return f; }, /emptytar.gz is empty: its tar archive holds no files/],
      ['a truncated image', async () => { const sc = await stemcellFiles('runit'); const full = fs.readFileSync(sc.imagePath); const f = path.join(tmp, 'truncated'); fs.writeFileSync(f, full.subarray(0, Math.floor(full.length / 2))); return f; }, /truncated is truncated/],
    ];
    it.each(cases)('%s', async (_name, make, message) => {
      const before = await ourImages();
      const file = await make();
      const run = await lab.call('create_stemcell', [file, { name: 'bad', version: '1' }]);
      expect(run.code).toBe(0);
      expect(run.response.error?.type).toBe('Bosh::Clouds::CloudError');
      expect(run.response.error?.message).toMatch(message);
      expect(await ourImages()).toEqual(before);
      expect(await ourImages('dangling=true')).toEqual([]);
    });
  });
});

describe('delete_stemcell', () => {
  it('is idempotent', async () => {
    const cid = await lab.stemcell();
    await lab.ok('delete_stemcell', [cid]);
    await lab.ok('delete_stemcell', [cid]);
    await lab.ok('delete_stemcell', ['bosh.io/stemcells:img-00000000-0000-4000-8000-000000000000']);
  });

  it('keeps an image its VMs still use under a tombstone tag, and removes it with the last VM', async () => {
    const sc = await stemcellFiles('runit');
    const cid = await lab.ok<string>('create_stemcell', [sc.imagePath, sc.cloudProperties]);
    const imageId = (await inspect('image', cid)).Id as string;
    const vm = await lab.createVm(cid, { default: lab.manual(1, 10) });
    await lab.ok('delete_stemcell', [cid]);
    expect(await exists('image', cid)).toBe(false);
    const kept = await inspect('image', imageId);
    expect(kept.RepoTags).toEqual([`bosh.io/stemcells-deleted:${cid.split(':')[1]}`]);
    expect(await ourImages('dangling=true')).toEqual([]);
    // The CID no longer resolves for new VMs.
    const run = await lab.call('create_vm', ['agent-x', cid, {}, { default: lab.manual(1, 11) }, [], {}]);
    expect(run.response.error?.type).toBe('Bosh::Clouds::VMCreationFailed');
    expect(run.response.error?.message).toContain(`stemcell '${cid}' not found`);
    await lab.ok('delete_vm', [vm.cid]);
    expect(await exists('image', imageId)).toBe(false);
  });
});

describe('light stemcells (docker-light)', () => {
  let localImage: string;
  let imageId: string;
  beforeAll(async () => {
    const sc = await stemcellFiles('none');
    localImage = `bosh-light-test:${lab.runId}`;
    await docker('import', '--change', `LABEL ${TEST_LABEL}=${lab.runId}`, '--change', 'CMD ["/bin/sh","-c","trap \\"exit 0\\" TERM; while :; do sleep 1; done"]', sc.imagePath, localImage);
    imageId = (await inspect('image', localImage)).Id as string;
  });
  afterAll(async () => {
    await docker('rmi', '-f', localImage).catch(() => undefined);
  });

  it('pins an image the engine has by its digest, verified', async () => {
    const cid = await lab.ok<string>('create_stemcell', ['/ignored/image', { name: 'light', version: '1', image_reference: localImage, digest: imageId }]);
    expect(cid).toBe(imageId);
    // A light stemcell's image belongs to the operator: delete_stemcell leaves it.
    await lab.ok('delete_stemcell', [cid]);
    expect(await exists('image', localImage)).toBe(true);
  });

  it('requires a digest to verify against unless verification is off', async () => {
    const run = await lab.call('create_stemcell', ['/ignored/image', { image_reference: localImage }]);
    expect(run.response.error?.message).toContain('no digest to verify the image against');
    const unverified = new Lab('stemcell-unverified', SUBNETS.stemcell, { light_stemcell: { require_image_verification: false } });
    expect(await unverified.ok('create_stemcell', ['/ignored/image', { image_reference: localImage }])).toBe(imageId);
    const wrong = await lab.call('create_stemcell', ['/ignored/image', { image_reference: localImage, digest: 'sha256:' + '0'.repeat(64) }]);
    expect(wrong.response.error?.message).toContain('does not match digest');
  });

  it('can be switched off', async () => {
    const off = new Lab('stemcell-off', SUBNETS.stemcell, { light_stemcell: { disable_light_stemcells: true } });
    const run = await off.call('create_stemcell', ['/ignored/image', { image_reference: localImage, digest: imageId }]);
    expect(run.response.error?.message).toContain('light stemcells are disabled');
  });

  it('reports an image it can neither find nor pull, retryably', async () => {
    // A registry on a closed loopback port: nothing leaves the machine.
    const run = await lab.call('create_stemcell', ['/ignored/image', { image_reference: '127.0.0.1:1/missing/stemcell:1', digest: 'sha256:' + '1'.repeat(64) }]);
    expect(run.response.error?.type).toBe('Bosh::Clouds::CloudError');
    expect(run.response.error?.message).toContain('the image is not on the engine and pulling it failed');
    expect(run.response.error?.ok_to_retry).toBe(true);
  });
});
