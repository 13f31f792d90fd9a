/**
 * The injection property over every command template of every shipped provider and of the test
 * providers: with hostile values (fast-check) for every placeholder, each rendered command runs
 * for real — the real /bin/sh and bash, with every other program a recorder that writes its argv —
 * and the canary file that every payload tries to create never appears. A value reaches a program
 * as exactly one argument in argv templates (the recorder sees the rendered argv), and verbatim in
 * shell code.
 */
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runProcess } from '../../src/omnicloud/exec/process';
import { loadProviderDir } from '../../src/omnicloud/provider/load';
import type { Provider } from '../../src/omnicloud/provider/model';
import { renderCommand } from '../../src/omnicloud/template/command';
import { provider, SHIPPED, tmpDir } from './helpers';

const dir = tmpDir('omni-inject-');
const canary = path.join(dir, 'CANARY');
const log = path.join(dir, 'argv.log');
const fakes = path.join(dir, 'fakes');
const real = path.join(dir, 'real');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const RECORDED = ['docker', 'mount', 'umount', 'mountpoint', 'mkdir', 'rm', 'rmdir', 'basename', 'cat', 'grep', 'curl', 'dirname', 'cloudco-cli', 'lxc-create', 'lxc-destroy', 'lxc-start', 'lxc-attach', 'lxc-network', 'sleep', 'printf', 'record'];
fs.mkdirSync(fakes);
fs.mkdirSync(real);
/** A recorder: writes its argv (unit-separated, record-separated) and succeeds. */
function recorder(name: string): void {
  const file = path.join(fakes, name);
  if (!fs.existsSync(file)) fs.writeFileSync(file, `#!/bin/sh\nfor a in "$0" "$@"; do printf '%s\\037' "$a"; done >> '${log}'\nprintf '\\036' >> '${log}'\n`, { mode: 0o755 });
}
RECORDED.forEach(recorder);
// Real programs a payload needs to do harm: if any value ran, the canary would appear.
for (const p of ['sh', 'bash', 'touch', 'env', 'python3', 'perl', 'awk', 'sed']) {
  const at = ['/bin', '/usr/bin'].map((d) => path.join(d, p)).find((f) => fs.existsSync(f));
  if (at) fs.symlinkSync(at, path.join(real, p));
}

const PAYLOADS = [
  `; touch ${canary}`,
  `$(touch ${canary})`,
  `\`touch ${canary}\``,
  `' ; touch ${canary} ; '`,
  `" ; touch ${canary} ; "`,
  `x\ntouch ${canary}\n`,
  `| touch ${canary}`,
  `&& touch ${canary}`,
  `$(touch\${IFS}${canary})`,
  `a[$(touch ${canary})]`,
  `__import__('os').system('touch ${canary}')`,
  `system("touch ${canary}")`,
  `BEGIN{system("touch ${canary}")}`,
  `1e touch ${canary}`,
  `-c touch ${canary}`,
  `--eval=require('fs').writeFileSync('${canary}','')`,
];
const SHELLY = [';', '&&', '|', '$(', '`', "'", '"', '\\', '\n', '{x}', '${HOME}', '*', '?', '~', '#', ' ', '%', '..', '-'];
const hostile = fc.oneof(
  fc.constantFrom(...PAYLOADS),
  fc.tuple(fc.array(fc.constantFrom(...SHELLY), { maxLength: 6 }), fc.constantFrom(...PAYLOADS)).map(([a, p]) => a.join('') + p),
  fc.string({ maxLength: 16 }).filter((s) => !s.includes('\0')),
);

/** Test providers: the forms the engine accepts in shell code and through wrappers. */
const TEST_PROVIDER = provider({
  name: 'forms',
  type: 'command',
  actions: {
    shell_bare: { command: 'printf %s {v} | cat', params: ['v'] },
    shell_quoted: { command: `printf %s "[{v}]" '[{w}]' {v}-{w} > /dev/null; cat < /dev/null`, params: ['v', 'w'] },
    shell_subst: { command: 'printf %s "$(printf %s {v})" | cat', params: ['v'] },
    shell_assign: { command: 'X={v}; printf %s "$X" | cat', params: ['v'] },
    positional: { command: `sh -c 'printf "<%s>" "$1" "$2"; x=$1; printf %s "$x"' sh {v} {w}`, params: ['v', 'w'] },
    wrapped: { command: `env A=1 timeout 5 sh -c 'for a in "$@"; do printf %s "$a"; done' sh {list}`, params: ['list'] },
    awk_data: { command: `awk 'BEGIN { print ARGV[1] }' {v}`, params: ['v'] },
    python_argv: { command: `python3 -c 'import sys; print(sys.argv[1])' {v}`, params: ['v'] },
    perl_argv: { command: `perl -e 'print $ARGV[0]' -- {v}`, params: ['v'] },
    sed_data: { command: `sed -e s/a/b/ -- {v}`, params: ['v'] },
  },
});

interface Target {
  provider: Provider;
  action: string;
  step: string;
  placeholders: string[];
}

function targets(providers: Provider[]): Target[] {
  const out: Target[] = [];
  for (const p of providers) {
    for (const a of p.actions.values()) {
      for (const s of a.steps) {
        if (s.target.kind !== 'command') continue;
        const c = s.target.command;
        const parts = c.mode === 'argv' ? c.words.flat() : c.script;
        const placeholders = [...new Set(parts.filter((x) => x.kind === 'param').map((x) => (x as { name: string }).name))];
        out.push({ provider: p, action: a.name, step: s.path, placeholders });
      }
    }
  }
  return out;
}

const shipped = loadProviderDir(SHIPPED);
const all = targets([...shipped.providers.values(), TEST_PROVIDER]);

/** A value for a placeholder: hostile, unless a param_pattern would refuse it before anything runs. */
function valueFor(t: Target, name: string, v: string, list: string[]): unknown {
  const a = t.provider.actions.get(t.action);
  const pattern = a?.paramPatterns.get(name) ?? t.provider.paramPatterns.get(name);
  if (name.startsWith('steps.') || name.startsWith('result.')) return v;
  const def = t.provider.defaults[name] ?? a?.defaults[name];
  if (Array.isArray(def) || /_flags$|_list$|^list$|^cmd$/.test(name)) return list;
  if (pattern && !pattern.test(v)) return name === 'state_dir' ? path.join(dir, 'state') : 'x1';
  return v;
}

function recorded(): string[][] {
  if (!fs.existsSync(log)) return [];
  return fs
    .readFileSync(log, 'utf8')
    .split('\x1e')
    .filter(Boolean)
    .map((r) => r.split('\x1f').slice(0, -1));
}

describe('no value ever runs: every shipped and test template, hostile values, real processes', () => {
  it('loads every shipped provider', () => {
    expect(shipped.errors.map((e) => e.message)).toEqual([]);
    expect(all.length).toBeGreaterThan(40);
  });

  it.each(all.map((t) => [`${t.provider.name}: ${t.step}`, t] as const))('%s', async (_name, t) => {
    await fc.assert(
      fc.asyncProperty(hostile, fc.array(hostile, { maxLength: 3 }), async (v, list) => {
        fs.rmSync(log, { force: true });
        const params = Object.fromEntries(t.placeholders.map((n) => [n.split('.')[0] as string, valueFor(t, n, v, list)]));
        const steps = Object.fromEntries(t.placeholders.filter((n) => n.startsWith('steps.')).map((n) => [n.split('.')[1] as string, { [n.split('.')[2] as string]: v }]));
        const result = Object.fromEntries(t.placeholders.filter((n) => n.startsWith('result.')).map((n) => [n.split('.')[1] as string, v]));
        const step = t.provider.actions.get(t.action)?.steps.find((s) => s.path === t.step);
        if (step?.target.kind !== 'command') throw new Error('not a command');
        const r = renderCommand(step.target.command, { params, steps, result }, t.step);
        // Every program an argv template runs is a recorder (its own name: cloud CLIs, lxc-*, pip…).
        if (!r.shell && !r.file.includes('/') && !fs.existsSync(path.join(real, r.file))) recorder(r.file);
        await runProcess({ file: r.file, args: r.args, env: { PATH: `${fakes}:${real}`, ...r.env }, timeoutMs: 10000, maxStdoutBytes: 1 << 20, maxStderrBytes: 1 << 16 });
        expect(fs.existsSync(canary)).toBe(false);
        const calls = recorded();
        if (!r.shell && calls[0] && fs.existsSync(path.join(fakes, r.file))) {
          // Without a shell the program received exactly the rendered argv: each value one argument.
          expect(calls[0].slice(1)).toEqual(r.args);
        }
        // Shell code: a value that reached a recorded program arrived whole, inside one argument.
        for (const value of [v, ...list]) {
          if (value.length < 8 || !calls.some((c) => c.join('\x1f').includes(value))) continue;
          expect(calls.some((c) => c.some((arg) => arg.includes(value)))).toBe(true);
        }
      }),
      { numRuns: 6 },
    );
  });
});
