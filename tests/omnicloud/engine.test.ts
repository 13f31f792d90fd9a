/**
 * Execution: timeouts that kill the whole process group, output caps, closed STDIN, an explicit
 * environment, hooks and their failure policy, error classification, secrets, status maps,
 * Endpoint transport (TLS verification, unix sockets, timeouts), validation and its cache.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { truncateText } from '../../src/omnicloud/errors';
import { Preflight } from '../../src/omnicloud/preflight';
import { alive, capturedLog, failure, engine, fakeBin, fixture, localServer, provider, single, tmpDir, type LocalServer } from './helpers';

const dir = tmpDir('omni-engine-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('running commands', () => {
  it('a timeout kills the whole process group and reports TimeoutError', async () => {
    const pidfile = path.join(dir, 'bg.pid');
    const p = single({ command: "sh -c 'sleep 60 & echo $! > \"$1\"; wait' sh {pidfile}", params: ['pidfile'], timeout_seconds: 0.5 });
    const err = await failure(engine([p]).run('t', 'a', { pidfile }));
    expect(err.code).toBe('TimeoutError');
    expect(err.message).toBe("t.a: 'sh' did not finish within 0.5 s and was killed");
    const bg = Number(fs.readFileSync(pidfile, 'utf8'));
    for (let i = 0; i < 50 && alive(bg); i++) await sleep(20);
    expect(alive(bg)).toBe(false);
  });

  it('takes the timeout from the action, else the provider, else the configuration', async () => {
    const slow = { command: 'sleep 5' };
    expect((await failure(engine([single(slow, { timeout_seconds: 0.2 })]).run('t', 'a', {}))).code).toBe('TimeoutError');
    expect((await failure(engine([single(slow)], { timeoutSeconds: 0.2 }).run('t', 'a', {}))).code).toBe('TimeoutError');
    const ok = single({ command: 'sleep 0.3', timeout_seconds: 10 }, { timeout_seconds: 0.1 });
    await expect(engine([ok]).run('t', 'a', {})).resolves.toBeDefined();
  });

  it('stops a program whose output passes the cap instead of parsing cut output', async () => {
    const err = await failure(engine([single({ command: 'yes', max_output_bytes: 4096 })]).run('t', 'a', {}));
    expect(err.code).toBe('ProviderError');
    expect(err.message).toBe("t.a: 'yes' wrote more than 4096 bytes of output and was stopped");
  });

  it('caps stderr without splitting characters into an exception (the original panicked)', async () => {
    const p = single({ command: `sh -c 'i=0; while [ $i -lt 2000 ]; do printf "✓ é "; i=$((i+1)); done >&2; exit 3'` });
    const err = await failure(engine([p], { maxErrorBytes: 1001 }).run('t', 'a', {}));
    expect(err.details['stderr_truncated']).toBe(true);
    expect(err.message).toMatch(/^t\.a: 'sh' exited with code 3: ✓ é ✓ é .* \[\d+ more characters\]$/);
    expect(truncateText('ab😀cd', 3)).toBe('ab… [4 more characters]');
  });

  it('closes STDIN: a program reading it gets EOF', async () => {
    expect((await engine([single({ command: 'cat' })]).run('t', 'a', {})).result).toBe('');
  });

  it('builds the environment: no inherited variables except PATH and HOME, a C locale, pass_env and env layers', async () => {
    const p = single({ command: 'env', params: ['v'], env: { FROM_STEP: 'step-{v}' } }, { env: { FROM_PROVIDER: 'p' }, pass_env: ['DOCKER_HOST'] });
    const e = engine([p], {
      processEnv: { PATH: process.env['PATH'], HOME: '/home/x', SECRET_TOKEN: 'hunter22', DOCKER_HOST: 'unix:///x.sock', BOSH_CPI_CONFIG: '/c.json' },
      env: { FROM_CONFIG: 'c' },
    });
    const lines = String((await e.run('t', 'a', { v: 'x y' })).result).split('\n').filter((l) => !/^(PWD|SHLVL|_)=/.test(l)).sort();
    // OMNI_RUN tags the run's processes (process.ts: how a deadline finds them all).
    expect(lines.filter((l) => l.startsWith('OMNI_RUN='))).toHaveLength(1);
    expect(lines.filter((l) => !l.startsWith('OMNI_RUN='))).toEqual(['DOCKER_HOST=unix:///x.sock', 'FROM_CONFIG=c', 'FROM_PROVIDER=p', 'FROM_STEP=step-x y', 'HOME=/home/x', 'LANG=C', 'LC_ALL=C', `PATH=${process.env['PATH']}`]);
  });

  it('refuses missing values and values that fail param_patterns, without showing them', async () => {
    const p = single({ command: 'echo {a} {b} {c}', params: ['a', 'b', 'c'], param_patterns: { a: '^[a-z]+$' } });
    const e = engine([p]);
    expect((await failure(e.run('t', 'a', { a: 'x' }))).message).toBe("t.a: missing values for 'b', 'c'");
    const bad = await failure(e.run('t', 'a', { a: 'X; rm -rf /', b: 1, c: 2 }));
    expect(bad.code).toBe('ValidationError');
    expect(bad.message).toBe("t.a: the value of 'a' does not match ^[a-z]+$");
  });

  it('param_patterns take a leading inline flag group, as the schema allows, and still anchor the whole value', async () => {
    const p = single({ command: 'echo {a}', params: ['a'], param_patterns: { a: '(?i)^[a-z]+$' } }, { param_patterns: { a: '(?i)^[A-Z]+$' } });
    const e = engine([p]);
    expect((await e.run('t', 'a', { a: 'AbC' })).result).toBe('AbC');
    const bad = await failure(e.run('t', 'a', { a: 'abc\nrm' }));
    expect(bad.message).toBe("t.a: the value of 'a' does not match ^[A-Z]+$");
  });
});

describe('hooks', () => {
  const log = path.join(dir, 'hooks.log');
  const rec = (what: string) => `sh -c 'echo ${what} >> "$1"' sh {log}`;
  const read = () => fs.readFileSync(log, 'utf8').trim().split('\n');
  beforeEach(() => fs.rmSync(log, { force: true }));

  it('run in order pre_delete, pre_exec, main, post_exec, each seeing earlier outputs', async () => {
    const p = single({
      command: `sh -c 'echo "main-$1" >> "$2"; echo id=m-42' sh {steps.first.id} {log}`,
      params: ['log'],
      parse_rules: { type: 'object', patterns: { id: { regex: 'id=(\\S+)' } } },
      pre_delete: [rec('pre_delete')],
      pre_exec: [
        { name: 'first', command: `sh -c 'echo pre_exec >> "$1"; echo id=p-1' sh {log}`, parse_rules: { type: 'object', patterns: { id: { regex: 'id=(\\S+)' } } } },
      ],
      post_exec: [{ command: `sh -c 'echo "post-$1-$2" >> "$3"' sh {result.id} {steps.main.id} {log}` }],
    });
    const r = await engine([p]).run('t', 'a', { log });
    expect(read()).toEqual(['pre_delete', 'pre_exec', 'main-p-1', 'post-m-42-m-42']);
    expect(r.result).toEqual({ id: 'm-42' });
    expect(r.trace.map((t) => `${t.phase}/${t.step}:${t.outcome}`)).toEqual(['pre_delete/pre_delete_0:ok', 'pre_exec/first:ok', 'main/main:ok', 'post_exec/post_exec_0:ok']);
  });

  it('failure policy: pre_delete continues by default, pre_exec aborts, on_failure overrides, always-steps clean up', async () => {
    const cl = capturedLog();
    const p = provider({
      name: 'h',
      type: 'command',
      actions: {
        delete: { command: rec('main'), params: ['log'], pre_delete: ['false', rec('after-failed-pre_delete')] },
        abort: {
          command: rec('main'),
          params: ['log'],
          pre_exec: [rec('pre1'), { command: 'false' }, rec('pre3')],
          post_exec: [{ command: rec('post-normal') }, { command: rec('post-always'), always: true }],
        },
        cont: { command: rec('main'), params: ['log'], pre_exec: [{ command: 'false', on_failure: 'continue' }] },
        mainfails: {
          command: 'sh -c "echo boom >&2; exit 4"',
          params: ['log'],
          pre_exec: [{ name: 'made', command: 'echo id=r-1', parse_rules: { type: 'object', patterns: { id: { regex: 'id=(\\S+)' } } } }],
          post_exec: [
            { command: `sh -c 'echo "cleanup-$1" >> "$2"' sh {steps.made.id} {log}`, always: true },
            { command: `sh -c 'echo "never-$1" >> "$2"' sh {result.x} {log}`, always: true },
            { command: 'false', always: true },
          ],
        },
      },
    });
    const e = engine([p], { log: cl.logger });
    await e.run('h', 'delete', { log });
    expect(read()).toEqual(['after-failed-pre_delete', 'main']);
    expect(cl.text()).toMatch(/step actions\.delete\.pre_delete\[0\] failed and is allowed to/);

    fs.rmSync(log);
    const err = await failure(e.run('h', 'abort', { log }));
    expect(err.message).toBe("h.abort (actions.abort.pre_exec[1]): 'false' exited with code 1");
    expect(read()).toEqual(['pre1', 'post-always']);

    fs.rmSync(log);
    await e.run('h', 'cont', { log });
    expect(read()).toEqual(['main']);

    fs.rmSync(log);
    const main = await failure(e.run('h', 'mainfails', { log }));
    expect(main.message).toBe("h.mainfails: 'sh' exited with code 4: boom");
    expect(read()).toEqual(['cleanup-r-1']);
    expect(cl.text()).toMatch(/clean-up step actions\.mainfails\.post_exec\[2\] failed too/);
  });

  it('expect: a parsed result that says otherwise fails the step', async () => {
    const p = single({ command: 'echo StatusCode=1', parse_rules: { type: 'object', patterns: { status_code: { regex: 'StatusCode=(\\d+)', transform: 'number' } } }, expect: { status_code: 0 } });
    const err = await failure(engine([p]).run('t', 'a', {}));
    expect(err.code).toBe('ProviderError');
    expect(err.message).toBe('t.a: expected status_code = 0, got 1');
  });
});

describe('errors and secrets', () => {
  it('classify by exit code and stderr pattern, action rules before provider rules, with the standard shape', async () => {
    const p = provider({
      name: 'c',
      type: 'command',
      error_rules: [
        { category: 'QuotaExceededError', pattern: '(?i)quota' },
        { category: 'RateLimitError', exit_codes: [75] },
      ],
      actions: {
        quota: { command: "sh -c 'echo Quota exceeded for workers >&2; exit 1'" },
        rate: { command: "sh -c 'exit 75'" },
        overridden: { command: "sh -c 'echo quota >&2; exit 1'", error_rules: [{ category: 'AuthenticationError', pattern: 'quota', message: 'the API key was refused' }] },
        other: { command: "sh -c 'echo something else >&2; exit 2'" },
      },
    });
    const e = engine([p]);
    const q = await failure(e.run('c', 'quota', {}));
    expect(q.toJSON()).toEqual({
      error: {
        code: 'QuotaExceededError',
        message: "c.quota: 'sh' exited with code 1: Quota exceeded for workers",
        details: { provider: 'c', action: 'quota', program: 'sh', exit_code: 1, stderr: 'Quota exceeded for workers\n' },
      },
    });
    expect((await failure(e.run('c', 'rate', {}))).code).toBe('RateLimitError');
    const o = await failure(e.run('c', 'overridden', {}));
    expect([o.code, o.message]).toEqual(['AuthenticationError', 'c.overridden: the API key was refused: quota']);
    expect((await failure(e.run('c', 'other', {}))).code).toBe('ProviderError');
  });

  it('never show a secret: not in messages, details, logs or raw output, in any encoding', async () => {
    const cl = capturedLog();
    const secret = 'sk-live "42" / ünïcode&x=1';
    const p = provider({
      name: 's',
      type: 'command',
      secret_params: ['login'],
      actions: {
        leak: { command: `sh -c 'echo "key=$1 url=$2 json=$3 login=$4" >&2; exit 1' sh {api_key} {encoded} {json} {login}`, params: ['api_key', 'encoded', 'json', 'login'] },
        token: {
          // The token appears only in the output, as a token from configure_auth would.
          command: "sh -c 'echo token=tok-$((100000000 + 23456789))'",
          parse_rules: { type: 'object', patterns: { token: { regex: 'token=(\\S+)' } } },
          post_exec: [{ command: `sh -c 'echo "bad token $1" >&2; exit 1' sh {result.token}` }],
        },
      },
    });
    const e = engine([p], { log: cl.logger });
    const err = await failure(e.run('s', 'leak', { api_key: secret, encoded: encodeURIComponent(secret), json: JSON.stringify(secret), login: 'operator-password-9' }));
    const shown = JSON.stringify(err.toJSON()) + cl.text();
    expect(err.message).toBe("s.leak: 'sh' exited with code 1: key=<redacted> url=<redacted> json=\"<redacted>\" login=<redacted>");
    expect(err.details['stderr']).toBe('key=<redacted> url=<redacted> json="<redacted>" login=<redacted>\n');
    for (const s of ['sk-live', encodeURIComponent(secret), 'operator-password-9']) expect(shown).not.toContain(s);

    const t = await failure(e.run('s', 'token', {}));
    expect(t.message).toBe("s.token (actions.token.post_exec[0]): 'sh' exited with code 1: bad token <redacted>");
    expect(JSON.stringify(t.toJSON()) + cl.text()).not.toContain('tok-123456789');
  });

  it('status_map normalizes every status field and keeps the raw value; unmapped ones are reported', async () => {
    const cl = capturedLog();
    const p = single(
      { command: "printf '%s\\n' 'w1 active' 'w2 shut-off' 'w3 weird'", parse_rules: { type: 'array', patterns: { id: { regex: '^(w\\d)' }, status: { regex: ' (\\S+)$' } } } },
      { status_map: { active: 'running', 'SHUT-OFF': 'stopped' } },
    );
    const r = await engine([p], { log: cl.logger }).run('t', 'a', {});
    expect(r.result).toEqual([
      { id: 'w1', status: 'running', raw_status: 'active' },
      { id: 'w2', status: 'stopped', raw_status: 'shut-off' },
      { id: 'w3', status: 'weird', raw_status: 'weird' },
    ]);
    expect(cl.text()).toMatch(/status 'weird' has no entry in status_map/);
  });
});

describe('Endpoint targets', () => {
  let server: LocalServer;
  beforeAll(async () => {
    server = await localServer((r) => {
      if (r.url.startsWith('/missing')) return { status: 404, body: '{"message":"No such worker: w-9"}' };
      if (r.url.startsWith('/denied')) return { status: 401, body: '{"message":"bad key"}' };
      if (r.url.startsWith('/busy')) return { status: 429, body: 'slow down' };
      if (r.url.startsWith('/boom')) return { status: 503, body: 'maintenance' };
      if (r.url.startsWith('/gone')) return { status: 304 };
      if (r.url.startsWith('/slow')) return { delayMs: 1500, body: '{}' };
      return { body: JSON.stringify({ method: r.method, auth: r.headers['authorization'] ?? null }) };
    });
  });
  afterAll(() => server.close());

  const ep = (url: string, extra: Record<string, unknown> = {}) => ({ target: { Endpoint: { url: `{api_url}${url}`, method: 'Get', ...extra } }, params: ['api_url'] });

  it('keeps a non-2xx body in the error and classifies the status', async () => {
    const p = provider({
      name: 'h',
      type: 'endpoint',
      actions: { missing: ep('/missing/w-9'), denied: ep('/denied'), busy: ep('/busy'), boom: ep('/boom'), gone: ep('/gone', { accept_status: [304] }), gone2: ep('/gone') },
    });
    const e = engine([p]);
    const m = await failure(e.run('h', 'missing', { api_url: server.url }));
    expect(m.toJSON().error).toEqual({
      code: 'ResourceNotFoundError',
      message: `h.missing: GET ${server.url}/missing/w-9 answered 404: {"message":"No such worker: w-9"}`,
      details: { provider: 'h', action: 'missing', http_status: 404, url: `${server.url}/missing/w-9`, body: '{"message":"No such worker: w-9"}' },
    });
    expect((await failure(e.run('h', 'denied', { api_url: server.url }))).code).toBe('AuthenticationError');
    expect((await failure(e.run('h', 'busy', { api_url: server.url }))).code).toBe('RateLimitError');
    expect((await failure(e.run('h', 'boom', { api_url: server.url }))).code).toBe('ProviderError');
    await expect(e.run('h', 'gone', { api_url: server.url })).resolves.toMatchObject({ raw: '' });
    expect((await failure(e.run('h', 'gone2', { api_url: server.url }))).code).toBe('ProviderError');
  });

  it('times out a response that does not come', async () => {
    const p = provider({ name: 'h', type: 'endpoint', actions: { slow: { ...ep('/slow'), timeout_seconds: 0.3 } } });
    const err = await failure(engine([p]).run('h', 'slow', { api_url: server.url }));
    expect(err.code).toBe('TimeoutError');
  });

  it('talks over a unix socket when unix_socket is set', async () => {
    const sock = path.join(dir, 'api.sock');
    const s = http.createServer((req, res) => res.end(JSON.stringify({ path: req.url, host: req.headers.host })));
    await new Promise<void>((r) => s.listen(sock, r));
    try {
      const p = provider({
        name: 'u',
        type: 'endpoint',
        actions: { v: { target: { Endpoint: { url: 'http://docker/v{api}/version', method: 'Get', unix_socket: '{sock}' } }, params: ['api', 'sock'], parse_rules: { type: 'json' } } },
      });
      expect((await engine([p]).run('u', 'v', { api: '1.41', sock })).result).toEqual({ path: '/v1.41/version', host: 'docker' });
    } finally {
      s.close();
    }
  });

  it('verifies TLS certificates unless verify_ssl says otherwise', async () => {
    const tls = await localServer(() => ({ body: '{"ok":true}' }), (l) => https.createServer({ key: fixture('tls', 'localhost.key'), cert: fixture('tls', 'localhost.crt') }, l));
    try {
      const cl = capturedLog();
      const p = provider({
        name: 'tls',
        type: 'endpoint',
        actions: {
          strict: ep('/x'),
          lax: ep('/x', { verify_ssl: false }),
          byparam: { ...ep('/x'), params: ['api_url', 'verify_ssl'] },
        },
      });
      const e = engine([p], { log: cl.logger });
      const err = await failure(e.run('tls', 'strict', { api_url: tls.url }));
      expect(err.code).toBe('ProviderError');
      expect(err.message).toMatch(/self[- ]signed|certificate/);
      expect(err.message).toMatch(/set verify_ssl to false only for a trusted self-signed endpoint/);
      await expect(e.run('tls', 'lax', { api_url: tls.url })).resolves.toMatchObject({ raw: '{"ok":true}' });
      await expect(e.run('tls', 'byparam', { api_url: tls.url, verify_ssl: 'false' })).resolves.toMatchObject({ raw: '{"ok":true}' });
      expect(cl.text()).toMatch(/TLS certificate verification is off for 127\.0\.0\.1/);
      expect((await failure(e.run('tls', 'byparam', { api_url: tls.url, verify_ssl: 'perhaps' }))).message).toBe("param 'verify_ssl' must be true or false");
      expect((await failure(e.run('tls', 'byparam', { api_url: tls.url, verify_ssl: 'true' }))).code).toBe('ProviderError');
    } finally {
      await tls.close();
    }
  });
});

describe('validation before first use', () => {
  it('lists every missing command and unmet version in one ValidationError', async () => {
    const bin = tmpDir('omni-bin-');
    fakeBin(bin, 'oldtool', 'echo "oldtool version 1.2.3 (build 7)"');
    fakeBin(bin, 'newtool', 'echo "newtool v3.10.0"');
    const p = single(
      { command: 'true' },
      { validation: { required_commands: ['oldtool', 'missing-a', 'missing-b', 'newtool'], version_requirements: { oldtool: '>=2.0.0', newtool: '^3.9.0', 'missing-a': '>=1' } } },
    );
    const e = engine([p], { processEnv: { PATH: `${bin}:/usr/bin:/bin` } });
    const err = await failure(new Preflight(e, { seconds: 0 }).validate(p));
    expect(err.code).toBe('ValidationError');
    expect(err.message).toBe("provider 't' cannot run here: required command 'missing-a' is not on PATH; required command 'missing-b' is not on PATH; 'oldtool' 1.2.3 does not satisfy >=2.0.0");
    fs.rmSync(bin, { recursive: true });
  });

  it('does not remember a failure: once the program is installed, the next check passes', async () => {
    const bin = tmpDir('omni-bin-');
    const p = single({ command: 'true' }, { validation: { required_commands: ['latecomer'] } });
    const e = engine([p], { processEnv: { PATH: `${bin}:/usr/bin:/bin` } });
    const pf = new Preflight(e, { dir: path.join(bin, 'cache'), seconds: 3600 });
    expect((await failure(pf.validate(p))).message).toBe("provider 't' cannot run here: required command 'latecomer' is not on PATH");
    fakeBin(bin, 'latecomer', 'true');
    await expect(pf.validate(p)).resolves.toBeUndefined();
    fs.rmSync(bin, { recursive: true });
  });

  it("uses test_install's version when it runs the program, and caches a pass for later processes", async () => {
    const bin = tmpDir('omni-bin-');
    const count = path.join(bin, 'count');
    fakeBin(bin, 'mycli', `echo x >> ${count}; echo "mycli version 4.1.0"`);
    const raw = {
      name: 'v',
      type: 'command',
      validation: { required_commands: ['mycli'], version_requirements: { mycli: '>=4.0.0' } },
      actions: { test_install: { command: 'mycli --version', parse_rules: { type: 'object', patterns: { version: { regex: 'version ([\\d.]+)' } } } } },
    };
    const p = provider(raw);
    const cache = path.join(bin, 'cache');
    const e = engine([p], { processEnv: { PATH: `${bin}:/usr/bin:/bin` } });
    await new Preflight(e, { dir: cache, seconds: 3600 }).validate(p);
    await new Preflight(e, { dir: cache, seconds: 3600 }).validate(p);
    expect(fs.readFileSync(count, 'utf8').trim().split('\n')).toHaveLength(1);
    expect(fs.readdirSync(cache)).toHaveLength(1);

    const stricter = { ...p, digest: 'other', validation: { ...p.validation, versionRequirements: [['mycli', '>=5'] as [string, string]] } };
    const err = await failure(new Preflight(engine([stricter], { processEnv: { PATH: `${bin}:/usr/bin:/bin` } }), { dir: cache, seconds: 3600 }).validate(stricter));
    expect(err.message).toBe("provider 'v' cannot run here: 'mycli' 4.1.0 does not satisfy >=5");
    fs.rmSync(bin, { recursive: true });
  });
});
