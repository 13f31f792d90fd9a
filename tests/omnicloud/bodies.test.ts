/**
 * Endpoint bodies that are not text and the features the docker-api provider stands on, against
 * a local HTTP server: body_file (what may be uploaded, and that exactly that is), body_archive,
 * response_archive_member, a json rule's error_pointer, the keys transform, derived_params,
 * rollback steps, and arrays in JSON bodies read as argv by the code-position table.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { engine, failure, localServer, provider, tmpDir, type LocalServer } from './helpers';

const dir = tmpDir('omni-bodies-');
let server: LocalServer;
/** What the server answers next, by path prefix. */
const answers = new Map<string, { status?: number; body?: string | Buffer }>();

beforeAll(async () => {
  server = await localServer((r) => {
    for (const [prefix, a] of answers) if (r.url.startsWith(prefix)) return a;
    return { body: '{}' };
  });
});
afterAll(async () => {
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  answers.clear();
  server.requests.length = 0;
});

function endpoint(ep: Record<string, unknown>, action: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return provider({ name: 'b', type: 'endpoint', default_settings: { api: server.url }, actions: { a: { target: { Endpoint: { method: 'Post', ...ep } }, params: ['api'], ...action } }, ...extra });
}

async function untar(buf: Buffer): Promise<Array<{ name: string; mode: number; content: string }>> {
  const out: Array<{ name: string; mode: number; content: string }> = [];
  const x = tar.extract();
  x.on('entry', (h, body, next) => {
    const chunks: Buffer[] = [];
    body.on('data', (c: unknown) => chunks.push(c as Buffer));
    body.on('end', () => (out.push({ name: h.name, mode: h.mode ?? 0, content: Buffer.concat(chunks).toString('utf8') }), next()));
  });
  await new Promise<void>((resolve, reject) => {
    x.on('finish', resolve);
    x.on('error', reject);
    Readable.from([buf]).pipe(x);
  });
  return out;
}

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const p = tar.pack();
  for (const [name, content] of Object.entries(files)) p.entry({ name }, content);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('body_file', () => {
  const p = () => endpoint({ url: '{api}/images/create', body_file: '{image_path}' }, { params: ['api', 'image_path'] });

  it('streams the file as the body, byte for byte, with its length', async () => {
    const file = path.join(dir, 'image');
    const bytes = Buffer.from(Array.from({ length: 300000 }, (_, i) => (i * 7) % 256));
    fs.writeFileSync(file, bytes);
    await engine([p()]).run('b', 'a', { image_path: file });
    const r = server.requests[0];
    expect(r?.bytes.equals(bytes)).toBe(true);
    expect(r?.headers['content-length']).toBe(String(bytes.length));
    expect(r?.headers['content-type']).toBe('application/octet-stream');
  });

  it('refuses a path that is not absolute and normal, a final symlink, a FIFO, a device, a directory, a missing file, and one above max_body_bytes; nothing is sent', async () => {
    const file = path.join(dir, 'real');
    fs.writeFileSync(file, 'x'.repeat(100));
    fs.symlinkSync(file, path.join(dir, 'link'));
    fs.mkdirSync(path.join(dir, 'sub'));
    require('node:child_process').execFileSync('mkfifo', [path.join(dir, 'fifo')]);
    const cases: Array<[string, RegExp]> = [
      ['real', /must be an absolute, normal file path/],
      [`${dir}/sub/../real`, /must be an absolute, normal file path/],
      [`${dir}//real`, /must be an absolute, normal file path/],
      [`${dir}/./real`, /must be an absolute, normal file path/],
      [path.join(dir, 'link'), /is a symbolic link/],
      [path.join(dir, 'fifo'), /is not a regular file/],
      ['/dev/zero', /is not a regular file/],
      [path.join(dir, 'sub'), /is not a regular file/],
      [path.join(dir, 'missing'), /does not exist/],
    ];
    for (const [v, why] of cases) {
      const e = await failure(engine([p()]).run('b', 'a', { image_path: v }));
      expect([e.code, e.message]).toEqual(['ValidationError', expect.stringMatching(why)]);
    }
    const small = endpoint({ url: '{api}/images/create', body_file: '{image_path}', max_body_bytes: 99 }, { params: ['api', 'image_path'] });
    expect((await failure(engine([small]).run('b', 'a', { image_path: file }))).message).toMatch(/holds 100 bytes, more than max_body_bytes \(99\)/);
    expect(server.requests).toEqual([]);
  });

  it('is one placeholder naming a parameter, alone, and that parameter can never be overridable', () => {
    expect(() => endpoint({ url: '{api}/x', body_file: '/etc/{f}' }, { params: ['api', 'f'] })).toThrow(/body_file must be exactly one placeholder/);
    expect(() => endpoint({ url: '{api}/x', body_file: '{f}', body: { a: 1 } }, { params: ['api', 'f'] })).toThrow(/more than one of body, body_file and body_archive/);
    expect(() => endpoint({ url: '{api}/x', body_file: '{f}' }, { params: ['api', 'f'] }, { overridable: ['f'] })).toThrow(/\{f\} names the file to upload, so it cannot be overridable/);
    expect(() => endpoint({ url: '{api}/x', body_file: '{f}' }, { params: ['api', 'f'], overridable: ['f'] })).toThrow(/cannot be overridable/);
    expect(() => endpoint({ url: '{api}/x', body_file: '{f}' }, { params: ['api'] })).toThrow(/placeholder \{f\} is not declared in params/);
  });
});

describe('body_archive and response_archive_member', () => {
  it('sends a tar of the named files, contents rendered (values are only contents)', async () => {
    const p = endpoint({ url: '{api}/archive?path=/', method: 'Put', body_archive: [{ name: 'var/vcap/bosh/settings.json', content: '{doc}' }, { name: 'etc/note', content: 'for {who}', mode: 0o644 }] }, { params: ['api', 'doc', 'who'] });
    await engine([p]).run('b', 'a', { doc: { a: 1 }, who: '../../x' });
    const r = server.requests[0];
    expect(r?.headers['content-type']).toBe('application/x-tar');
    expect(await untar(r?.bytes as Buffer)).toEqual([
      { name: 'var/vcap/bosh/settings.json', mode: 0o600, content: '{"a":1}' },
      { name: 'etc/note', mode: 0o644, content: 'for ../../x' },
    ]);
  });

  it('names are literal relative paths: a placeholder, a .. segment, an absolute name or a duplicate is a load error', () => {
    for (const name of ['{n}', '../etc/passwd', 'a/../../b', '/etc/passwd', 'a/./b', 'a//b']) {
      expect(() => endpoint({ url: '{api}/x', body_archive: [{ name, content: 'x' }] }, { params: ['api', 'n'] })).toThrow(/must be a literal relative path/);
    }
    expect(() => endpoint({ url: '{api}/x', body_archive: [{ name: 'a', content: 'x' }, { name: 'a', content: 'y' }] })).toThrow(/holds 'a' twice/);
  });

  it('reads one member of a tar response; a response without it, or not a tar, fails', async () => {
    answers.set('/archive', { body: await tarOf({ 'other.txt': 'no', 'settings.json': '{"disks": {"persistent": {"d-2": "/x", "d-1": "/y"}}}' }) });
    const p = endpoint({ url: '{api}/archive', method: 'Get', response_archive_member: 'settings.json' }, { parse_rules: { type: 'json', fields: { disks: { pointer: '/disks/persistent', transform: 'keys' } } } });
    expect((await engine([p]).run('b', 'a', {})).result).toEqual({ disks: ['d-1', 'd-2'] });
    answers.set('/archive', { body: await tarOf({ 'other.txt': 'no' }) });
    expect((await failure(engine([p]).run('b', 'a', {}))).message).toMatch(/the response archive holds no file named settings.json/);
    answers.set('/archive', { body: 'not a tar at all, but long enough to be read as a header block or not'.repeat(10) });
    expect((await failure(engine([p]).run('b', 'a', {}))).code).toBe('ProviderError');
  });
});

describe('a json rule with error_pointer', () => {
  it('fails the step with an error the output reports in-band, classified by the error rules', async () => {
    answers.set('/stream', { body: '{"status":"Downloading"}\n{"errorDetail":{"message":"no space left on device"},"error":"no space left on device"}\n' });
    const rule = { type: 'json', lines: true, error_pointer: '/error', fields: { progress: { pointer: '/status', optional: true } } };
    const p = endpoint({ url: '{api}/stream' }, { parse_rules: rule }, { error_rules: [{ category: 'QuotaExceededError', pattern: 'no space left' }] });
    const e = await failure(engine([p]).run('b', 'a', {}));
    expect([e.code, e.message]).toEqual(['QuotaExceededError', 'b.a: the output reports an error: no space left on device']);
    answers.set('/stream', { body: '{"status":"Downloading"}\n{"status":"sha256:abc"}\n' });
    expect((await engine([p]).run('b', 'a', {})).result).toEqual([{ progress: 'Downloading' }, { progress: 'sha256:abc' }]);
  });
});

describe('derived_params', () => {
  const p = () =>
    endpoint({ url: '{api}/create', body: { Memory: '{memory_bytes}', NanoCpus: '{nano_cpus}' } }, { params: ['api', 'memory_bytes', 'nano_cpus'] }, {
      default_settings: { api: server.url, memory: 0, cpus: 0 },
      derived_params: { memory_bytes: { from: 'memory', multiply: 1048576 }, nano_cpus: { from: 'cpus', multiply: 1e9 } },
      overridable: ['memory', 'cpus'],
    });

  it('computes after every layer is merged: the operator setting of the source wins over the manifest', async () => {
    await engine([p()]).run('b', 'a', {}, { manifest: { memory: 128, cpus: 0.5 } });
    expect(JSON.parse(server.requests[0]?.body as string)).toEqual({ Memory: 134217728, NanoCpus: 500000000 });
    await engine([p()], { settings: { memory: '256' } }).run('b', 'a', {}, { manifest: { memory: 128 } });
    expect(JSON.parse(server.requests[1]?.body as string)).toEqual({ Memory: 268435456, NanoCpus: 0 });
  });

  it('a source that is no number is a ValidationError naming it; a derived name cannot be overridable, nor derived from a derived one', async () => {
    const e = await failure(engine([p()]).run('b', 'a', {}, { manifest: { memory: '1g' } }));
    expect([e.code, e.message]).toEqual(['ValidationError', "b.a: 'memory' must be a number to compute 'memory_bytes'"]);
    expect(() => endpoint({ url: '{api}/x' }, {}, { derived_params: { m: { from: 'x', multiply: 2 } }, overridable: ['m'] })).toThrow(/'m' is computed from 'x', so it cannot be overridable/);
    expect(() => endpoint({ url: '{api}/x' }, {}, { derived_params: { m: { from: 'n', multiply: 2 }, n: { from: 'x', multiply: 2 } } })).toThrow(/'n' is derived itself/);
  });
});

describe('rollback steps', () => {
  const p = () =>
    endpoint(
      { url: '{api}/main' },
      {
        pre_exec: [{ name: 'make', target: { Endpoint: { url: '{api}/make', method: 'Post' } }, parse_rules: { type: 'json', fields: { id: '/id' } } }],
        post_exec: [
          { name: 'undo', rollback: true, target: { Endpoint: { url: '{api}/undo/{steps.make.id}', method: 'Delete' } } },
          { name: 'tidy', always: true, target: { Endpoint: { url: '{api}/tidy', method: 'Post' } } },
        ],
      },
    );

  it('run only after a failure, and only for what ran; on success they are skipped', async () => {
    answers.set('/make', { body: '{"id": "r-1"}' });
    await engine([p()]).run('b', 'a', {});
    expect(server.requests.map((r) => r.url)).toEqual(['/make', '/main', '/tidy']);
    server.requests.length = 0;
    answers.set('/main', { status: 500, body: '{"message": "broken"}' });
    await failure(engine([p()]).run('b', 'a', {}));
    expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /make', 'POST /main', 'DELETE /undo/r-1', 'POST /tidy']);
  });

  it('is a post_exec step only, and never also always', () => {
    expect(() => endpoint({ url: '{api}/x' }, { pre_exec: [{ rollback: true, target: { Endpoint: { url: '{api}/y', method: 'Get' } } }] })).toThrow(/only post_exec steps can be a rollback/);
    expect(() => endpoint({ url: '{api}/x' }, { post_exec: [{ rollback: true, always: true, target: { Endpoint: { url: '{api}/y', method: 'Get' } } }] })).toThrow(/cannot be always too/);
  });
});

describe('arrays in JSON bodies are argv', () => {
  const load = (body: unknown, params: string[] = ['x']) => () => endpoint({ url: '{api}/containers/create', body }, { params: ['api', ...params] });

  it('a value in the code argument of a program that runs it as code is a load error, in a value body and in a text body', () => {
    expect(load({ Cmd: ['sh', '-c', '{x}'] })).toThrow(/placeholder \{x\} is in the code argument of sh \(a shell\)/);
    expect(load({ Cmd: ['sh', '-c', 'echo {x}'] })).toThrow(/placeholder \{x\} is in the code argument of sh/);
    expect(load({ HostConfig: { Healthcheck: { Test: ['/usr/bin/python3', '-c', 'print({x})'] } } })).toThrow(/placeholder \{x\} is in the code argument of python3/);
    expect(load({ Cmd: ['timeout', '5', 'bash', '-O', 'extglob', '-c', '{x}'] })).toThrow(/code argument of bash/);
    expect(load('{"Cmd": ["sh", "-c", "{x}"]}')).toThrow(/placeholder \{x\} is in the code argument of sh/);
    // The script of sh -c is parsed knowing $1 carries the value: eval "$1" runs it.
    expect(load({ Cmd: ['sh', '-c', 'eval "$1"', 'sh', '{x}'] })).toThrow(/placeholder \{x\} is in the code of eval/);
  });

  it('the safe forms load: a value as a positional parameter quoted in the code, or as a plain argument', () => {
    expect(load({ Cmd: ['sh', '-c', 'mkdir -p "/disks/$1"', 'sh', '{x}'] })).not.toThrow();
    expect(load({ Cmd: ['ls', '-l', '{x}'], Env: ['A={x}'], Binds: ['{x}:/vol'] })).not.toThrow();
    expect(load('{"Cmd": ["sh", "-c", "echo \\"$1\\"", "sh", "{x}"], "Image": "{x}"}')).not.toThrow();
  });
});
