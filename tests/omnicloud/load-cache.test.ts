/**
 * The load cache: a provider file that passed every check is marked verified (per content and
 * engine); later loads of that content trust the mark, skip the checks, and compile an action
 * only when it is looked up and a regex only when it is matched. A file with a problem is never
 * marked, so it fails on every load; a changed file is checked again.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LinearRegex } from '../../src/omnicloud/parse/linear';
import { loadNamedProvider } from '../../src/omnicloud/provider/load';
import { LazyActions } from '../../src/omnicloud/provider/lazy-actions';
import { engine, failure, provider, SHIPPED, tmpDir } from './helpers';

const root = tmpDir('omni-load-cache-');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function providersDir(files: Record<string, unknown>): { dir: string; cache: string } {
  const dir = fs.mkdtempSync(path.join(root, 'p-'));
  for (const [name, raw] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), typeof raw === 'string' ? raw : JSON.stringify(raw));
  return { dir, cache: path.join(dir, '..', `${path.basename(dir)}-cache`) };
}

const marks = (cache: string) => (fs.existsSync(cache) ? fs.readdirSync(cache).filter((f) => f.startsWith('verified-')) : []);

describe('the verified mark', () => {
  it('is written once a file loads without a problem; a later load compiles actions on lookup only', () => {
    const { dir, cache } = providersDir({ 'docker.json': fs.readFileSync(path.join(SHIPPED, 'docker.json'), 'utf8') });
    const first = loadNamedProvider(dir, 'docker', { cacheDir: cache }).providers.get('docker');
    expect(first?.actions).toBeInstanceOf(Map);
    expect(marks(cache)).toHaveLength(1);
    const later = loadNamedProvider(dir, 'docker', { cacheDir: cache }).providers.get('docker');
    expect(later?.actions).toBeInstanceOf(LazyActions);
    expect([...(later?.actions.keys() ?? [])]).toEqual([...(first?.actions.keys() ?? [])]);
    // The same compiled action either way.
    expect(JSON.stringify(later?.actions.get('create_container')?.steps.map((s) => s.target))).toBe(JSON.stringify(first?.actions.get('create_container')?.steps.map((s) => s.target)));
  });

  it('is never written for a file with a problem: it fails on every load', () => {
    const bad = { name: 'bad', type: 'command', actions: { a: { command: 'echo {x}', params: ['x'], parse_rules: { type: 'object', patterns: { v: { regex: '(a)(?=b)' } } } } } };
    const { dir, cache } = providersDir({ 'bad.json': bad });
    for (let i = 0; i < 2; i++) {
      const r = loadNamedProvider(dir, 'bad', { cacheDir: cache });
      expect(r.errors.map((e) => e.message)).toEqual([expect.stringContaining('actions.a.parse_rules.patterns.v.regex: the pattern /(a)(?=b)/ cannot be used')]);
    }
    expect(marks(cache)).toEqual([]);
  });

  it('belongs to one content: a changed file is checked again, and a problem in it is found', () => {
    const good = { name: 'p', type: 'command', actions: { a: { command: 'echo {x}', params: ['x'] } } };
    const { dir, cache } = providersDir({ 'p.json': good });
    expect(loadNamedProvider(dir, 'p', { cacheDir: cache }).errors).toEqual([]);
    fs.writeFileSync(path.join(dir, 'p.json'), JSON.stringify({ ...good, actions: { a: { command: 'echo {x} {y}', params: ['x'] } } }));
    expect(loadNamedProvider(dir, 'p', { cacheDir: cache }).errors.map((e) => e.message)).toEqual([expect.stringContaining('placeholder {y} is not declared in params')]);
    expect(marks(cache)).toHaveLength(1);
  });

  it('lives in a private directory (0700), and a mark in a shape this engine does not write is ignored: the file is checked again', () => {
    const good = { name: 'p', type: 'command', actions: { a: { command: 'echo hi' } } };
    const { dir, cache } = providersDir({ 'p.json': good });
    loadNamedProvider(dir, 'p', { cacheDir: cache });
    expect(fs.statSync(cache).mode & 0o777).toBe(0o700);
    const [mark] = marks(cache);
    expect(JSON.parse(fs.readFileSync(path.join(cache, mark as string), 'utf8'))).toEqual({ warnings: [] });
    // A mark that is not what this engine writes is ignored: the file is checked again.
    fs.writeFileSync(path.join(cache, mark as string), '{"warnings": "not a list"}');
    expect(loadNamedProvider(dir, 'p', { cacheDir: cache }).providers.get('p')?.actions).toBeInstanceOf(Map);
  });
});

describe('a call pays only for what it runs', () => {
  it('a deferred pattern compiles when first matched', () => {
    const r = LinearRegex.deferred('(a)\\1');
    expect(() => r.test('aa')).toThrow(/cannot be used/);
    expect(() => LinearRegex.compile('(a)\\1')).toThrow(/cannot be used/);
    expect(LinearRegex.deferred('^(x+)$').exec('xx')?.groups).toEqual(['xx', 'xx']);
  });

  it("param_patterns are checked for the parameters an action's steps use, not for every value in scope", async () => {
    const p = provider({ name: 't', type: 'command', default_settings: { unused: 'BAD VALUE', used: 'ok' }, param_patterns: { unused: '^[a-z]+$', used: '^[a-z]+$' }, actions: { a: { command: 'echo {used}', params: ['used'] } } });
    expect((await engine([p]).run('t', 'a', {})).result).toBe('ok');
    const e = await failure(engine([p]).run('t', 'a', { used: 'NOT OK' }));
    expect(e.message).toBe("t.a: the value of 'used' does not match ^[a-z]+$");
  });
});
