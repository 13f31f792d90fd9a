/**
 * Hostile parameter values through every kind of target: each value tries to create a marker
 * file; the tests prove the value arrives verbatim and nothing ran and nothing was expanded.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { engine, localServer, provider, tmpDir, type LocalServer } from './helpers';

const dir = tmpDir('omni-hostile-');
const marker = path.join(dir, 'PWNED');

const HOSTILE = [
  `; touch ${marker}`,
  `$(touch ${marker})`,
  `\`touch ${marker}\``,
  `' ; touch ${marker} ; '`,
  `" ; touch ${marker} ; "`,
  `"$(touch ${marker})"`,
  `'$(touch ${marker})'`,
  `x\ntouch ${marker}\n`,
  `| touch ${marker}`,
  `&& touch ${marker}`,
  `$(touch\${IFS}${marker})`,
  '{other}',
  '{{other}}',
  '${other}',
  '$other',
  `\\'; touch ${marker}; #`,
  `-rf ${marker}`,
];
const OTHER = `$(touch ${marker})`;

const p = provider({
  name: 'hostile',
  type: 'command',
  default_settings: { other: OTHER },
  actions: {
    argv: { command: 'printf %s {v}', params: ['v', 'other'] },
    defaults: { command: `sh -c 'printf %s "$1"' sh {other}`, params: ['other'] },
    argv_concat: { command: 'printf %s prefix-{v}-suffix', params: ['v'] },
    nested_bare: { command: `sh -c 'printf %s "$1"' sh {v}`, params: ['v'] },
    nested_dq: { command: `sh -c 'printf %s "[$1]"' sh {v}`, params: ['v'] },
    nested_var: { command: `sh -c 'x=$1; printf %s "[$x]"' sh {v}`, params: ['v'] },
    nested_subst: { command: `bash -c 'printf %s "$(printf %s "$1")"' bash {v}`, params: ['v'] },
    shell_bare: { command: 'printf %s {v} | cat', params: ['v'] },
    shell_dq: { command: 'printf %s "[{v}]" | cat', params: ['v'] },
    shell_sq: { command: "printf %s '[{v}]' | cat", params: ['v'] },
    shell_forced: { target: { Command: { command: 'printf %s {v}', shell: true, in_vm: false } }, params: ['v'] },
    env: { command: `sh -c 'printf %s "$V"'`, params: ['v'], env: { V: '{v}' } },
    regex: {
      command: 'printf %s {probe}',
      params: ['v', 'probe'],
      parse_rules: { type: 'object', patterns: { hit: { regex: '^value: {v}$', transform: 'boolean' } } },
    },
  },
});

describe('hostile values', () => {
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const e = engine([p]);

  it('reach a program verbatim through argv, the positional parameters of sh -c scripts, shell-mode templates and env', async () => {
    for (const v of HOSTILE) {
      expect((await e.run('hostile', 'argv', { v })).result).toBe(v.trim() === v ? v : v.trim());
      expect((await e.run('hostile', 'argv_concat', { v })).raw).toBe(`prefix-${v}-suffix`);
      expect((await e.run('hostile', 'nested_bare', { v })).raw).toBe(v);
      expect((await e.run('hostile', 'nested_dq', { v })).raw).toBe(`[${v}]`);
      expect((await e.run('hostile', 'nested_var', { v })).raw).toBe(`[${v}]`);
      expect((await e.run('hostile', 'nested_subst', { v })).raw).toBe(v.replace(/\n+$/, ''));
      expect((await e.run('hostile', 'shell_bare', { v })).raw).toBe(v);
      expect((await e.run('hostile', 'shell_dq', { v })).raw).toBe(`[${v}]`);
      expect((await e.run('hostile', 'shell_sq', { v })).raw).toBe(`[${v}]`);
      expect((await e.run('hostile', 'shell_forced', { v })).raw).toBe(v);
      expect((await e.run('hostile', 'env', { v })).raw).toBe(v);
    }
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('in default_settings are values like any other (the original engine ran them)', async () => {
    expect((await e.run('hostile', 'defaults', {})).raw).toBe(OTHER);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('are matched literally when a regex uses them', async () => {
    expect((await e.run('hostile', 'regex', { v: 'a.c', probe: 'value: abc' })).result).toEqual({ hit: false });
    expect((await e.run('hostile', 'regex', { v: 'a.c', probe: 'value: a.c' })).result).toEqual({ hit: true });
    expect((await e.run('hostile', 'regex', { v: '(', probe: 'value: (' })).result).toEqual({ hit: true });
    expect((await e.run('hostile', 'regex', { v: '.*', probe: 'value: anything' })).result).toEqual({ hit: false });
    expect((await e.run('hostile', 'regex', { v: 'a-z[', probe: 'value: a-z[' })).result).toEqual({ hit: true });
  });

  describe('through an Endpoint target', () => {
    let server: LocalServer;
    beforeAll(async () => {
      server = await localServer((r) => ({ body: JSON.stringify({ ok: true, echo: r.body }) }));
    });
    afterAll(() => server.close());

    it('stay in their URL segment, query value, header and JSON string', async () => {
      const ep = provider({
        name: 'ep',
        type: 'endpoint',
        actions: {
          call: {
            target: {
              Endpoint: {
                url: '{api_url}/things/{v}/x?q={v}&fixed=1',
                method: 'Post',
                headers: { 'X-Value': 'v={h}', 'Content-Type': 'application/json' },
                body: '{"name":"{v}","other":"{other}"}',
              },
            },
            params: ['api_url', 'v', 'h', 'other'],
          },
        },
      });
      const e2 = engine([ep]);
      for (const v of HOSTILE.filter((x) => x !== '..')) {
        const h = v.replace(/[\r\n]/g, ' ');
        await e2.run('ep', 'call', { api_url: server.url, v, h, other: OTHER });
        const req = server.requests[server.requests.length - 1] as LocalServer['requests'][number];
        const url = new URL(req.url, server.url);
        expect(url.pathname.split('/').length).toBe(4);
        expect(decodeURIComponent(url.pathname.split('/')[2] as string)).toBe(v);
        expect([...url.searchParams.entries()]).toEqual([
          ['q', v],
          ['fixed', '1'],
        ]);
        // HTTP drops a header value's surrounding whitespace.
        expect(req.headers['x-value']).toBe(`v=${h}`.trim());
        expect(JSON.parse(req.body)).toEqual({ name: v, other: OTHER });
      }
      expect(fs.existsSync(marker)).toBe(false);
    });
  });
});
