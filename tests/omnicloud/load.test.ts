/**
 * Provider loading: every shipped file loads; every published shape is accepted; a bad file is
 * not registered and its error names the file, the JSON path and the problem; loading is
 * deterministic.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { METHODS } from '../../src/cpi/methods';
import { BOSH_METHODS } from '../../src/omnicloud/bridge/methods';
import { ProviderLoadError } from '../../src/omnicloud/errors';
import { compileProvider, loadNamedProvider, loadProviderDir } from '../../src/omnicloud/provider/load';
import { engine, provider, SHIPPED, tmpDir } from './helpers';

function problems(raw: unknown): string[] {
  try {
    compileProvider(raw, 'bad.json', 'x');
  } catch (e) {
    if (e instanceof ProviderLoadError) return e.problems;
    throw e;
  }
  throw new Error('expected the provider to be refused');
}

const minimal = (action: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ name: 'p', type: 'command', actions: { a: action }, ...extra });

describe('shipped provider files', () => {
  it('all load, with no errors and no warnings', () => {
    const r = loadProviderDir(SHIPPED);
    expect(r.errors.map((e) => e.message)).toEqual([]);
    expect([...r.providers.keys()]).toEqual(['cloudco', 'docker-api', 'docker', 'lxc_cpi', 'truenas']); // file order: docker-api.json < docker.json
    for (const p of r.providers.values()) expect(p.warnings).toEqual([]);
    expect(fs.readdirSync(SHIPPED).filter((f) => f.endsWith('.json'))).toHaveLength(5);
  });

  it('cover the container guide (command, pre_delete, default_settings, validation) and both target forms', () => {
    const r = loadProviderDir(SHIPPED);
    const lxc = r.providers.get('lxc_cpi');
    expect(lxc?.type).toBe('container');
    expect(lxc?.actions.get('delete_container')?.steps.map((s) => `${s.phase}:${s.name}`)).toEqual(['pre_delete:pre_delete_0', 'main:main']);
    expect(lxc?.validation.requiredCommands).toEqual(['lxc-create', 'lxc-start', 'lxc-stop', 'lxc-destroy']);
    expect(lxc?.defaults['logging_options']).toEqual({ 'max-size': '100m', 'max-file': '3' });
    expect(r.providers.get('cloudco')?.actions.get('initialize_cli')?.main.target.kind).toBe('command');
    expect(r.providers.get('truenas')?.actions.get('create_worker')?.main.target.kind).toBe('endpoint');
  });
});

describe('accepted shapes', () => {
  it('a string Command target, an object Command target and the container guide command', () => {
    const p = provider({
      name: 'shapes',
      type: 'command',
      actions: {
        s: { target: { Command: 'echo {x}' }, params: ['x'] },
        o: { target: { Command: { command: 'echo {x}', in_vm: false } }, params: ['x'] },
        c: { command: 'echo {x}', params: ['x'] },
      },
    });
    expect([...p.actions.keys()]).toEqual(['s', 'o', 'c']);
  });

  it('every Endpoint method, Custom included', () => {
    const methods = ['Get', 'Post', 'Put', 'Patch', 'Delete', 'Option', { Custom: 'PROPFIND' }];
    const actions = Object.fromEntries(methods.map((m, i) => [`a${i}`, { target: { Endpoint: { url: 'http://h/x', method: m } } }]));
    const p = provider({ name: 'm', type: 'endpoint', actions });
    const got = [...p.actions.values()].map((a) => (a.main.target.kind === 'endpoint' ? a.main.target.endpoint.method : ''));
    expect(got).toEqual(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'PROPFIND']);
  });

  it('action-level default_settings apply, under the caller params', async () => {
    const p = provider({
      name: 'd',
      type: 'command',
      default_settings: { a: 'provider', b: 'provider' },
      actions: { x: { command: 'printf %s {a}-{b}-{c}', params: ['a', 'b', 'c'], default_settings: { b: 'action', c: 'action' } } },
    });
    const e = engine([p]);
    expect((await e.run('d', 'x', {})).result).toBe('provider-action-action');
    expect((await e.run('d', 'x', { c: 'caller' })).result).toBe('provider-action-caller');
    expect((await engine([p], { settings: { a: 'config', b: 'config' } }).run('d', 'x', {})).result).toBe('config-config-action');
  });
});

describe('refused files name the JSON path and the problem', () => {
  it('unknown keys, at the top, in an action, in a pattern and in a target', () => {
    expect(problems({ ...minimal({ command: 'x' }), setup_commands: [] })).toEqual(["(top level): unknown key 'setup_commands'"]);
    expect(problems(minimal({ command: 'x', post_create: ['y'] }))).toEqual(["actions.a: unknown key 'post_create'"]);
    expect(problems(minimal({ command: 'x', parse_rules: { type: 'object', patterns: { f: { regex: 'x', grop: 1 } } } }))).toEqual(["actions.a.parse_rules.patterns.f: unknown key 'grop'"]);
    expect(problems(minimal({ target: { Command: { command: 'x', sudo: true } } }))).toEqual(["actions.a.target.Command: unknown key 'sudo'"]);
    expect(problems(minimal({ target: { Endpoint: { url: 'http://h', method: 'Get', timeout: 3 } } }))).toEqual(["actions.a.target.Endpoint: unknown key 'timeout'"]);
  });

  it('wrong types and values', () => {
    expect(problems({ name: 'p', type: 'cloud-ish', actions: { a: { command: 'x' } } })).toEqual(['type: expected one of "container", "command", "endpoint", "cloud", "virt"']);
    expect(problems(minimal({ target: { Endpoint: { url: 'http://h', method: 'GET' } } }))[0]).toMatch(/^actions\.a\.target\.Endpoint\.method: /);
    expect(problems(minimal({ command: 'x', parse_rules: { type: 'table' } }))).toEqual(['actions.a.parse_rules.type: expected one of "object", "array", "properties", "json", "text"']);
    expect(problems(minimal({ command: 'x', parse_rules: { type: 'object', patterns: { f: { regex: '([' } } } }))).toEqual(['actions.a.parse_rules.patterns.f.regex: the pattern /([/ cannot be used: the linear-time regex engine (RE2 syntax) refuses it: missing closing ]: `[`']);
    // What RE2 cannot express is refused by name: backreferences and lookaround.
    expect(problems(minimal({ command: 'x', parse_rules: { type: 'object', patterns: { f: { regex: '(a)\\1' } } } }))).toEqual(['actions.a.parse_rules.patterns.f.regex: the pattern /(a)\\1/ cannot be used: the linear-time regex engine (RE2 syntax) refuses it: invalid escape sequence: `\\1`']);
    expect(problems(minimal({ command: 'x', error_rules: [{ category: 'ProviderError', pattern: 'x(?=y)' }] }))).toEqual(['actions.a.error_rules[0].pattern: the pattern /x(?=y)/ cannot be used: the linear-time regex engine (RE2 syntax) refuses it: invalid or unsupported Perl syntax: `(?=`']);
    // Two capture groups and no `group`: which one is the value is a guess, so it is an error.
    expect(problems(minimal({ command: 'x', parse_rules: { type: 'object', patterns: { size: { regex: 'Disk-(\\d+)-Size: (\\d+)' } } } }))).toEqual(['actions.a.parse_rules.patterns.size.group: the regex has 2 capture groups: say which one holds the value (group: 1, 2, … or a group name)']);
    expect(problems(minimal({ target: { Command: 'x', Endpoint: { url: 'u', method: 'Get' } } }))).toEqual(['actions.a.target: must hold exactly one of Command or Endpoint']);
    expect(problems(minimal({ target: { Command: { command: 'x', in_vm: true } } }))).toEqual(['actions.a.target.Command.in_vm: in_vm: true (running the command over SSH inside a worker) is not supported']);
    expect(problems({ name: 'p', type: 'command', actions: {} })).toEqual(['actions: must define at least one action']);
    expect(problems(minimal({ command: 'x' }, { validation: { version_requirements: { x: 'newest please' } } }))).toEqual(['validation.version_requirements.x: is not a valid semver range']);
  });

  it('templates that cannot run safely, and placeholders that are not declared', () => {
    expect(problems(minimal({ command: 'echo {x} {y}', params: ['x'] }))).toEqual(['actions.a.command: placeholder {y} is not declared in params']);
    expect(problems(minimal({ command: "echo `{x}` | cat", params: ['x'] }))).toEqual([
      'actions.a.command: placeholder {x} is expanded unquoted: it is split into several arguments and globbed (safe rewrite: quote it: "$1"); placeholder {x} is inside backticks, whose text the shell reads again (safe rewrite: use $(…) instead of backticks)',
    ]);
    expect(problems(minimal({ command: "sh -c 'echo {x}'", params: ['x'] }))).toEqual([
      `actions.a.command: placeholder {x} is in the code argument of sh (a shell), which runs it as code (safe rewrite: pass it as a positional parameter and quote it in the code: sh -c '… "$1" …' sh {x})`,
    ]);
    expect(problems(minimal({ target: { Endpoint: { url: '{u}/x/{id}', method: 'Get' } }, params: ['u'] }))).toEqual(['actions.a.target: placeholder {id} is not declared in params']);
    expect(problems(minimal({ command: 'echo', post_exec: [{ command: 'echo {steps.later.id}' }] }))).toEqual(["actions.a.post_exec[0].command: placeholder {steps.later.id} refers to step 'later', which does not run before this one"]);
    expect(problems(minimal({ command: 'echo {result.id}' }))).toEqual(['actions.a.command: placeholder {result.id} is only available in post_exec steps']);
    expect(problems(minimal({ command: 'echo', pre_exec: [{ command: 'x', always: true }] }))).toEqual(['actions.a.pre_exec[0].always: only post_exec steps can run always']);
    expect(problems(minimal({ command: 'x', parse_rules: { type: 'object', patterns: { f: { regex: '(a)', group: 2 } } } }))).toEqual(['actions.a.parse_rules.patterns.f.group: is 2 but the regex has 1 capture group(s)']);
    expect(problems(minimal({ command: 'x' }, { bosh: { method_map: { create_vm: 'nope', make_coffee: null } } }))).toEqual([
      "bosh.method_map.create_vm: action 'nope' is not defined",
      "bosh.method_map.make_coffee: 'make_coffee' is not a BOSH CPI method",
    ]);
  });

  it('warns about a boolean pattern that always matches', () => {
    const p = provider(minimal({ command: 'x', parse_rules: { type: 'object', patterns: { success: { regex: '.*', transform: 'boolean' } } } }));
    expect(p.warnings).toEqual(['actions.a.parse_rules.patterns.success: this boolean pattern matches any output, so it is always true']);
  });
});

describe('loading a directory', () => {
  const dir = tmpDir('omni-load-');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (f: string, v: unknown) => fs.writeFileSync(path.join(dir, f), typeof v === 'string' ? v : JSON.stringify(v, null, 2));

  it('loads *.json in sorted order; a duplicate name is an error on the later file; bad files are not registered', () => {
    write('b.json', { name: 'dup', type: 'command', actions: { a: { command: 'echo b' } } });
    write('a.json', { name: 'dup', type: 'command', actions: { a: { command: 'echo a' } } });
    write('c.json', '{\n  "name": "broken",\n  "type": "command",\n}');
    write('d.json', { name: 'invalid', type: 'command', actions: { a: { command: 'echo {nope}' } } });
    write('notes.txt', 'not a provider');
    fs.mkdirSync(path.join(dir, 'sub.json'));
    for (let i = 0; i < 3; i++) {
      const r = loadProviderDir(dir);
      expect([...r.providers.keys()]).toEqual(['dup']);
      expect(r.providers.get('dup')?.file).toBe(path.join(dir, 'a.json'));
      expect(r.errors.map((e) => e.message)).toEqual([
        `${path.join(dir, 'b.json')}: name: provider name 'dup' is already defined by a.json`,
        `${path.join(dir, 'c.json')}: is not valid JSON: Expected double-quoted property name at line 4 column 1`,
        `${path.join(dir, 'd.json')}: actions.a.command: placeholder {nope} is not declared in params`,
      ]);
    }
  });

  it('loadNamedProvider registers what loadProviderDir would for that name, compiling only files of that name', () => {
    // Written by the test above: a.json and b.json are 'dup', c.json is not JSON, d.json does not compile.
    write('e.json', { name: 'later', type: 'command', actions: { a: { command: 'echo {nope}' } } });
    write('f.json', { name: 'later', type: 'command', actions: { a: { command: 'echo f' } } });
    const dup = loadNamedProvider(dir, 'dup');
    expect([...dup.providers.keys()]).toEqual(['dup']);
    expect(dup.providers.get('dup')?.digest).toBe(loadProviderDir(dir).providers.get('dup')?.digest);
    expect(dup.providers.get('dup')?.file).toBe(path.join(dir, 'a.json'));
    // The first file of the name that compiles wins; the failures on the way are reported.
    const later = loadNamedProvider(dir, 'later');
    expect(later.providers.get('later')?.file).toBe(path.join(dir, 'f.json'));
    expect(later.errors.map((e) => e.file)).toEqual([path.join(dir, 'c.json'), path.join(dir, 'e.json')]);
    // No file of that name: the whole directory's result, to say what is there.
    const none = loadNamedProvider(dir, 'none');
    expect([...none.providers.keys()]).toEqual(['dup', 'later']);
    expect(none.errors.map((e) => e.message)).toEqual(loadProviderDir(dir).errors.map((e) => e.message));
    expect(() => loadNamedProvider(path.join(dir, 'missing'), 'dup')).toThrow(`${path.join(dir, 'missing')}: the provider directory does not exist`);
  });

  it('a missing directory is an error naming it', () => {
    expect(() => loadProviderDir(path.join(dir, 'missing'))).toThrow(`${path.join(dir, 'missing')}: the provider directory does not exist`);
  });
});

describe('BOSH_METHODS', () => {
  // A copy, not an import of src/cpi/methods.ts: that would put the CPI's argument schemas into the
  // omnicloud chunk (about 15 KB more to parse on every call).
  it('are the methods of the CPI contract that use a backend, in its order', () => {
    expect(BOSH_METHODS).toEqual(Object.keys(METHODS).filter((m) => METHODS[m]?.usesBackend));
  });
});
