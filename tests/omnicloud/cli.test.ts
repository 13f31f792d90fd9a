/** The debugging CLI: `bin/cpi omni list|run|validate|init`, run as a subprocess. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CPI } from '../helpers/cpi';
import { SHIPPED, tmpDir } from './helpers';

const dir = tmpDir('omni-cli-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function omni(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(CPI, ['omni', ...args], { encoding: 'utf8', env: { PATH: process.env['PATH'], HOME: process.env['HOME'] } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const providers = path.join(dir, 'providers');
fs.mkdirSync(providers);
fs.writeFileSync(
  path.join(providers, 'demo.json'),
  JSON.stringify({
    name: 'demo',
    type: 'command',
    default_settings: { greeting: 'hello' },
    actions: {
      greet: { command: "printf 'Greeting: %s %s\\nCount: %s\\n' {greeting} {who} {n}", params: ['greeting', 'who', 'n'], parse_rules: { type: 'object', patterns: { text: { regex: 'Greeting: (.*)$' }, count: { regex: 'Count: (\\d+)', transform: 'number' } } } },
      items: { command: "printf '%s\\n' {list}", params: ['list'], parse_rules: { type: 'json', lines: true } },
      login: { command: "printf 'token=%s\\n' tk-$((40000 + 2))", parse_rules: { type: 'object', patterns: { api_key: { regex: 'token=(\\S+)' } } } },
      test_install: { command: 'echo demo version 1.2.3', parse_rules: { type: 'object', patterns: { version: { regex: 'version (\\S+)' } } } },
      // A pre_exec step's output field declared secret (secret_params), echoed by the main step.
      session: {
        pre_exec: [{ name: 'auth', command: "printf 'sid=%s\\n' s-$((50000 + 5))", parse_rules: { type: 'object', patterns: { sid: { regex: 'sid=(\\S+)' } } } }],
        command: 'echo {steps.auth.sid}',
        parse_rules: { type: 'object', patterns: { echoed: { regex: '(\\S+)' } } },
      },
      fail: { command: "sh -c 'echo no such thing >&2; exit 4'", error_rules: [{ category: 'ResourceNotFoundError', exit_codes: [4] }] },
    },
    validation: { required_commands: ['printf'], version_requirements: { demo: '>=1.0.0' } },
    secret_params: ['sid'],
  }),
);

describe('bin/cpi omni', () => {
  it('list: every shipped provider with its actions and parameters', () => {
    const r = omni('list', '--providers', SHIPPED);
    expect(r.code).toBe(0);
    for (const name of ['cloudco (command, cloudco.json)', 'docker (container, docker.json)', 'docker-api (endpoint, docker-api.json)', 'lxc_cpi (container, lxc_cpi.json)', 'truenas (endpoint, truenas.json)']) {
      expect(r.stdout).toContain(`  ${name}: `);
    }
    expect(r.stdout).toContain('create_worker(name, worker_type, image, region, network)');
  });

  it('list --json: files that did not load are listed with their problems, and the exit status is 1', () => {
    fs.writeFileSync(path.join(providers, 'zz-bad.json'), JSON.stringify({ name: 'bad', type: 'command', actions: { a: { command: 'x', shell: true } } }));
    try {
      const r = omni('list', '--providers', providers, '--json');
      expect(r.code).toBe(1);
      const out = JSON.parse(r.stdout);
      expect(out.providers.map((p: { name: string }) => p.name)).toEqual(['demo']);
      expect(out.errors).toEqual([{ file: path.join(providers, 'zz-bad.json'), problems: ["actions.a: unknown key 'shell'"] }]);
    } finally {
      fs.rmSync(path.join(providers, 'zz-bad.json'));
    }
  });

  it('run: key=value strings and key:=JSON values, the parsed result as JSON, --raw for the raw output', () => {
    const r = omni('run', '--providers', providers, 'demo', 'greet', 'who=world & co', 'n:=42', '--state-dir', dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ text: 'hello world & co', count: 42 });
    const raw = omni('run', '--providers', providers, 'demo', 'greet', 'who=x', 'greeting=hi', 'n=1', '--raw', '--state-dir', dir);
    expect(raw.stdout).toBe('Greeting: hi x\nCount: 1\n');
    // An array value that is a whole word becomes one argument per element.
    expect(JSON.parse(omni('run', '--providers', providers, 'demo', 'items', 'list:=[1,{"b":"c d"}]', '--state-dir', dir).stdout)).toEqual([1, { b: 'c d' }]);
  });

  it('run: secrets in a result are redacted when printed', () => {
    const r = omni('run', '--providers', providers, 'demo', 'login', '--state-dir', dir);
    expect(JSON.parse(r.stdout)).toEqual({ api_key: '<redacted>' });
    expect(omni('run', '--providers', providers, 'demo', 'login', '--raw', '--state-dir', dir).stdout).toBe('token=<redacted>\n');
  });

  it('run: a secret an earlier step produced is redacted where the result echoes it', () => {
    const r = omni('run', '--providers', providers, 'demo', 'session', '--state-dir', dir);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ echoed: '<redacted>' });
    expect(omni('run', '--providers', providers, 'demo', 'session', '--raw', '--state-dir', dir).stdout).toBe('<redacted>\n');
  });

  it('run: a failure prints the standard error shape and exits 1', () => {
    const r = omni('run', '--providers', providers, 'demo', 'fail', '--state-dir', dir);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({
      error: {
        code: 'ResourceNotFoundError',
        message: "demo.fail: 'sh' exited with code 4: no such thing",
        details: { provider: 'demo', action: 'fail', program: 'sh', exit_code: 4, stderr: 'no such thing\n' },
      },
    });
    const missing = omni('run', '--providers', providers, 'demo', 'greet', '--state-dir', dir);
    expect(JSON.parse(missing.stdout).error).toMatchObject({ code: 'ValidationError', message: "demo.greet: missing values for 'who', 'n'" });
    const unknown = omni('run', '--providers', providers, 'nope', 'greet', '--state-dir', dir);
    expect(JSON.parse(unknown.stdout).error.message).toBe("unknown provider 'nope' (loaded: demo)");
  });

  it('validate and init run the validation block and the initialization sequence', () => {
    expect(JSON.parse(omni('validate', '--providers', providers, 'demo', '--state-dir', dir).stdout)).toEqual({ provider: 'demo', valid: true });
    expect(JSON.parse(omni('init', '--providers', providers, 'demo', '--state-dir', dir).stdout)).toEqual({ provider: 'demo', outputs: { version: '1.2.3' } });
  });

  it('usage errors exit 2 and say what is wrong; --help exits 0', () => {
    const r = omni('run', '--providers', providers, 'demo');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^bin\/cpi omni: expected PROVIDER ACTION\nusage:/);
    expect(omni('frobnicate').stderr).toMatch(/unknown command 'frobnicate'/);
    expect(omni('list', '--providers', path.join(dir, 'nowhere')).code).toBe(2);
    const help = omni('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage:\n {2}bin\/cpi omni list/);
  });
});
