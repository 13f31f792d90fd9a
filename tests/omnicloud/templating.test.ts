/**
 * Templating: placeholders parsed once, values never expanded again, commands split into argv
 * before substitution, shell code quoted per context, URL/JSON encodings — proven with property
 * tests, several of which run the rendered command for real.
 */
import fc from 'fast-check';
import { runProcess } from '../../src/omnicloud/exec/process';
import { compileCommand, renderCommand, type CompiledCommand } from '../../src/omnicloud/template/command';
import { compileEndpoint, renderEndpoint } from '../../src/omnicloud/template/endpoint';
import { parseTemplate, placeholderNames } from '../../src/omnicloud/template/placeholders';
import { TemplateSyntaxError } from '../../src/omnicloud/template/shell';
import type { Scope } from '../../src/omnicloud/template/values';
import { engine, failure, provider } from './helpers';

const scope = (params: Record<string, unknown>): Scope => ({ params, steps: {} });

/** Pieces that mean something to a shell, a template engine, a URL or JSON. */
const HOSTILE = [';', '&&', '|', '$(id)', '`id`', "'", '"', '\\', '\n', '{other}', '{{x}}', '${HOME}', '$HOME', '*', '?', '~', '#', ' ', '\t', '%', '%2F', '/', '..', '&', '=', '<', '>', '(', ')', 'é', '✓', '\u2028'];
const hostileString = fc.oneof(
  fc.array(fc.constantFrom(...HOSTILE), { maxLength: 8 }).map((a) => a.join('')),
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({ maxLength: 24 }),
).filter((s) => !s.includes('\0'));

async function run(c: CompiledCommand, params: Record<string, unknown>): Promise<string> {
  const r = renderCommand(c, scope(params), 'test');
  const out = await runProcess({ file: r.file, args: r.args, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...r.env }, timeoutMs: 10000, maxStdoutBytes: 1 << 20, maxStderrBytes: 1 << 16 });
  if (out.exitCode !== 0) throw new Error(`exit ${out.exitCode}: ${out.stderr}`);
  return out.stdout;
}

describe('placeholders', () => {
  it('finds {name} and dotted names, and leaves Go templates, JSON, ${…} and regex braces literal', () => {
    expect(parseTemplate('docker ps --format {{.ID}} {name}')).toEqual([
      { kind: 'text', text: 'docker ps --format {{.ID}} ' },
      { kind: 'param', name: 'name' },
    ]);
    expect(placeholderNames('{"a":{x},"b":"{y}"}')).toEqual(['x', 'y']);
    expect(placeholderNames('echo ${HOME} { cmd; } \\d{2,3} {{json .}} {steps.helper.id} {result.id}')).toEqual(['steps.helper.id', 'result.id']);
    expect(parseTemplate('{{.Names}}\t{{.Status}}')).toEqual([{ kind: 'text', text: '{{.Names}}\t{{.Status}}' }]);
  });

  it('renders values exactly once: a value that looks like a placeholder stays as it is', () => {
    const c = compileCommand('printf %s {a}:{b}', { shell: false });
    fc.assert(
      fc.property(hostileString, hostileString, (a, b) => {
        const r = renderCommand(c, scope({ a, b }), 'test');
        expect(r.args).toEqual(['%s', `${a}:${b}`]);
      }),
    );
    const r = renderCommand(compileCommand('echo {a}-{b}'), scope({ a: '{b}', b: 'B' }), 'test');
    expect(r.args).toEqual(['{b}-B']);
  });

  it('refuses a placeholder without a value, naming it', () => {
    expect(() => renderCommand(compileCommand('echo {a} {b}'), scope({ a: 'x' }), 'p.act')).toThrow('p.act: no value for placeholder {b}');
    expect(() => renderCommand(compileCommand('echo {a}'), scope({ a: null }), 'p.act')).toThrow('no value for placeholder {a}');
  });
});

describe('command templates', () => {
  it('split into argv before substitution: quotes and backslashes as sh reads them', () => {
    const c = compileCommand(`cli --name {name} 'a b' "c {name} d" e\\ f --flag={name}`);
    expect(c.mode).toBe('argv');
    const r = renderCommand(c, scope({ name: 'x y;z' }), 't');
    expect(r).toEqual({ file: 'cli', args: ['--name', 'x y;z', 'a b', 'c x y;z d', 'e f', '--flag=x y;z'], shell: false, env: {} });
  });

  it('expands an array into one argument per element only where a whole word is the placeholder', () => {
    const c = compileCommand('docker run {flags} --label x={flags} img');
    const r = renderCommand(c, scope({ flags: ['--label', 'a=b c'] }), 't');
    expect(r.args).toEqual(['run', '--label', 'a=b c', '--label', 'x=["--label","a=b c"]', 'img']);
    expect(renderCommand(c, scope({ flags: [] }), 't').args).toEqual(['run', '--label', 'x=[]', 'img']);
  });

  it('a list from a manifest is never spliced into several arguments (an option it could inject); from the operator it is', async () => {
    const p = provider({ name: 'm', type: 'command', overridable: ['flags'], actions: { a: { command: 'echo {flags} end', params: ['flags'] }, s: { command: 'sh -c \'echo "$@"\' sh {flags}', params: ['flags'] } } });
    for (const action of ['a', 's']) {
      const e = await failure(engine([p]).run('m', action, {}, { manifest: { flags: ['--privileged', '-v', '/:/host'] } }));
      expect([e.code, e.message]).toEqual(['ValidationError', expect.stringContaining('{flags} holds a list from the manifest: a manifest value is one argument, never several')]);
      // The operator's settings (and the bridge's names) outrank the manifest and may be lists.
      expect((await engine([p], { settings: { flags: ['-a', '-b'] } }).run('m', action, {}, { manifest: { flags: ['--privileged'] } })).result).toBe(action === 'a' ? '-a -b end' : '-a -b');
    }
    // A manifest string is one argument, as any value.
    expect((await engine([p]).run('m', 'a', {}, { manifest: { flags: '--privileged -v /:/host' } })).result).toBe('--privileged -v /:/host end');
  });

  it('runs through /bin/sh only when the template needs shell syntax', () => {
    for (const t of ['a | b {x}', 'echo $HOME {x}', 'ls *.json', 'a && b', 'cat < f', 'a; b', 'echo $(date)', 'echo `date`', 'a > /dev/null', '~/bin/x']) {
      expect(compileCommand(t).mode).toBe('shell');
    }
    for (const t of ["echo 'a | b' {x}", 'echo "a;b"', 'docker ps --format {{.ID}}', 'echo a\\|b', "echo '$HOME'"]) {
      expect(compileCommand(t).mode).toBe('argv');
    }
    expect(() => compileCommand('a | b', { shell: false })).toThrow(/needs a shell \(it uses '\|'\) but says shell: false/);
    expect(compileCommand('echo {x}', { shell: true }).mode).toBe('shell');
  });

  it('reads the script of sh -c (any option form, behind wrappers) as code: a placeholder there is a load error with the safe rewrite', () => {
    for (const t of ["bash -c 'echo {x}'", "sh -ec 'echo {x}'", "bash -O extglob -c 'echo {x}'", 'bash --rcfile F -c {x}', "busybox sh -c 'echo {x}'", "docker exec c sh -c 'echo {x}'", "timeout 5 sh -c 'echo {x}'"]) {
      expect(() => compileCommand(t)).toThrow(/placeholder \{x\} is in the code argument of (sh|bash) \(a shell\), which runs it as code \(safe rewrite: pass it as a positional parameter and quote it in the code: sh -c '… "\$1" …' sh \{x\}\)/);
    }
    // Values as positional parameters: the script is parsed with what $1… carry.
    expect(compileCommand("sh -c 'printf %s \"$1\"' sh {x}").mode).toBe('argv');
    expect(() => compileCommand("sh -c 'printf %s $1' sh {x}")).toThrow(/placeholder \{x\} is expanded unquoted/);
    expect(() => compileCommand("sh -c 'f=$1; eval \"$f\"' sh {x}")).toThrow(/placeholder \{x\} is in the code of eval/);
    expect(compileCommand('sh script.sh {x}').mode).toBe('argv');
  });

  it('refuses placeholders where a value would be code, naming the reason', () => {
    const bad: Array<[string, RegExp]> = [
      ['echo `{x}` | cat', /inside backticks/],
      ['echo ${x:-{y}} | cat', /inside '\$\{…\}'/],
      ['cat <<EOF | grep a\n{x}\nEOF', /here-document/],
      ['echo a # {x}\necho b', /in a comment/],
      ['echo $(( {x} + 1 ))', /inside arithmetic/],
      ['eval {x} | cat', /code of eval/],
      ['echo \\{x}', /backslash/],
      ["sh -c 'echo \"\\{x}\"'", /backslash|code argument/],
      ["echo 'unterminated", /reached EOF without closing quote/],
      ['', /empty/],
    ];
    for (const [t, re] of bad) expect(() => compileCommand(t)).toThrow(TemplateSyntaxError), expect(() => compileCommand(t)).toThrow(re);
  });

  it('argv mode: any value is exactly one argument (run for real)', async () => {
    const c = compileCommand('printf %s {x}');
    await fc.assert(fc.asyncProperty(hostileString, async (x) => expect(await run(c, { x })).toBe(x)), { numRuns: 40 });
  });

  it('sh -c with values as positional parameters: each value is one argument (run for real)', async () => {
    const c = compileCommand(`sh -c 'printf "<%s>" "$1" "$2"' sh {x} {y}`);
    await fc.assert(fc.asyncProperty(hostileString, hostileString, async (x, y) => expect(await run(c, { x, y })).toBe(`<${x}><${y}>`)), { numRuns: 30 });
  });

  it('shell code holds references to variables, never the values', () => {
    const c = compileCommand(`printf %s {x} "[{x}]" '[{y}]' | cat`);
    const r = renderCommand(c, scope({ x: "$(id)'", y: '`id`' }), 't');
    expect(r.args).toEqual(['-c', `printf %s "\${OMNI_P0}" "[\${OMNI_P0}]" '['"\${OMNI_P1}"']' | cat`]);
    expect(r.env).toEqual({ OMNI_P0: "$(id)'", OMNI_P1: '`id`' });
  });

  it('shell-mode templates (pipes, $(…)): the value comes out unchanged (run for real)', async () => {
    const bare = compileCommand('printf %s {x} | cat');
    const dq = compileCommand('printf %s "[{x}]" | cat');
    const sq = compileCommand("printf %s '[{x}]' | cat");
    const subst = compileCommand('printf %s "$(printf %s {x})" | cat');
    await fc.assert(
      fc.asyncProperty(hostileString, async (x) => {
        expect(await run(bare, { x })).toBe(x);
        expect(await run(dq, { x })).toBe(`[${x}]`);
        expect(await run(sq, { x })).toBe(`[${x}]`);
        // $(…) drops trailing newlines by definition.
        expect(await run(subst, { x })).toBe(x.replace(/\n+$/, ''));
      }),
      { numRuns: 30 },
    );
  });

});

describe('endpoint templates', () => {
  const ep = compileEndpoint({
    url: '{api_url}/items/{id}?q={q}',
    method: 'POST',
    headers: { Authorization: 'Bearer {key}', 'Content-Type': 'application/json' },
    body: '{"name":"{name}","n":{n},"tags":{tags}}',
  });
  const base = { api_url: 'http://127.0.0.1:9/api/v2.0/', id: 'x', q: 'y', key: 'k', name: 'n', n: 1, tags: ['a'] };

  it('percent-encodes URL values and keeps a leading base URL as it is', () => {
    fc.assert(
      fc.property(hostileString.filter((s) => s !== '.' && s !== '..'), hostileString, (id, q) => {
        const r = renderEndpoint(ep, scope({ ...base, id, q }), 't');
        expect(r.url.origin).toBe('http://127.0.0.1:9');
        const [, api, v, items, seg] = r.url.pathname.split('/');
        expect([api, v, items]).toEqual(['api', 'v2.0', 'items']);
        expect(decodeURIComponent(seg as string)).toBe(id);
        expect(r.url.searchParams.get('q')).toBe(q);
        expect([...r.url.searchParams.keys()]).toEqual(['q']);
      }),
    );
  });

  it("refuses a value that would be a '..' path segment, and a base that is not a URL", () => {
    expect(() => renderEndpoint(ep, scope({ ...base, id: '..' }), 't')).toThrow(/'\.\.' path segment/);
    expect(() => renderEndpoint(ep, scope({ ...base, api_url: 'not a url' }), 't')).toThrow(/must be an absolute http\(s\) URL/);
    expect(() => renderEndpoint(ep, scope({ ...base, api_url: 'file:///etc/passwd' }), 't')).toThrow(/absolute http\(s\) URL/);
  });

  it('JSON-escapes values inside JSON strings and inserts values outside them as JSON', () => {
    fc.assert(
      // null is "no value" for a placeholder (see the missing-value test above).
      fc.property(hostileString, fc.jsonValue().filter((v) => v !== null), (name, tags) => {
        const r = renderEndpoint(ep, scope({ ...base, name, tags }), 't');
        const body = JSON.parse(r.body as string);
        expect(body.name).toBe(name);
        expect(body.tags).toEqual(JSON.parse(JSON.stringify(tags)));
        expect(Object.keys(body)).toEqual(['name', 'n', 'tags']);
      }),
    );
  });

  it('JSON-value bodies: a leaf that is one placeholder keeps its type, other leaves are text', () => {
    const c = compileEndpoint({ url: 'http://h/x', method: 'POST', body: { Labels: '{labels}', Cmd: ['{cmd}', 'x-{n}'], '{k}': 1 } });
    const r = renderEndpoint(c, scope({ labels: { a: 'b' }, cmd: 'run "me"', n: 3, k: 'key' }), 't');
    expect(JSON.parse(r.body as string)).toEqual({ Labels: { a: 'b' }, Cmd: ['run "me"', 'x-3'], key: 1 });
    expect(r.headers['Content-Type']).toBe('application/json');
  });

  it('refuses header values with line breaks, and bodies that are not JSON', () => {
    expect(() => renderEndpoint(ep, scope({ ...base, key: 'a\r\nX-Evil: 1' }), 't')).toThrow("the value of header 'Authorization' would contain a line break or NUL");
    expect(() => compileEndpoint({ url: 'http://h', method: 'POST', body: '{"a": {x}' })).toThrow(/not valid JSON/);
    expect(() => compileEndpoint({ url: 'http://h', method: 'GET', headers: { 'X-{a}': 'v' } })).toThrow(/must not contain placeholders/);
  });

  it('form bodies are percent-encoded, text bodies inserted as they are', () => {
    const form = compileEndpoint({ url: 'http://h', method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'a={a}&b=1' });
    expect(renderEndpoint(form, scope({ a: 'x&b=2' }), 't').body).toBe('a=x%26b%3D2&b=1');
    const text = compileEndpoint({ url: 'http://h', method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'hello {a}' });
    expect(renderEndpoint(text, scope({ a: '{b} "q"' }), 't').body).toBe('hello {b} "q"');
  });
});
