/**
 * Parse rules, golden tests on output captured from this machine's docker CLI and Engine API
 * (fixtures/docker, made by fixtures/capture-docker.sh): text tables with headers, JSON, JSON
 * lines, indexed lines; plus the semantics the original engine got wrong.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isOmniError } from '../../src/omnicloud/errors';
import { applyRules } from '../../src/omnicloud/parse/rules';
import { loadProviderFile } from '../../src/omnicloud/provider/load';
import { engine, fakeBin, fixture, FIXTURES, provider, SHIPPED, tmpDir } from './helpers';

const DOCKER = path.join(FIXTURES, 'docker');
const scope = { params: {}, steps: {} };

/** The rules of a one-action provider, applied to a text. */
function parse(rules: Record<string, unknown>, text: string, params: string[] = [], values: Record<string, unknown> = {}): unknown {
  const p = provider({ name: 'p', type: 'command', actions: { a: { command: 'true', params, parse_rules: rules } } });
  return applyRules(p.actions.get('a')?.main.rules, text, { params: values, steps: {} }, 'p.a');
}

function parseError(rules: Record<string, unknown>, text: string): string {
  try {
    parse(rules, text);
  } catch (e) {
    if (isOmniError(e)) return `${e.code}: ${e.message}`;
    throw e;
  }
  throw new Error('expected a parse error');
}

describe('the shipped docker provider on captured docker CLI output', () => {
  const bin = tmpDir('omni-fake-docker-');
  const argvLog = path.join(bin, 'argv.log');
  fakeBin(
    bin,
    'docker',
    `printf '%s\\n' "$*" >> ${argvLog}
F=${DOCKER}
case "$*" in
  "ps --all --no-trunc --filter label=bosh.agent_id --format table "*) cat "$F/ps-table.txt" ;;
  "container inspect oc-fixture-a") cat "$F/container-inspect.json" ;;
  "container inspect "*) cat "$F/inspect-missing.stderr" >&2; exit 1 ;;
  "volume inspect oc-fixture-vol-1") cat "$F/volume-inspect.json" ;;
  "volume ls "*) cat "$F/volume-ls-json-lines.txt" ;;
  "volume rm "*) cat "$F/volume-rm-missing.stderr" >&2; exit 1 ;;
  "version --format "*) cat "$F/version-client.txt" ;;
  "import "*) cat "$F/import.txt" ;;
  *) echo "fake docker: unexpected $*" >&2; exit 99 ;;
esac`,
  );
  const docker = loadProviderFile(path.join(SHIPPED, 'docker.json'));
  const e = engine([docker], { processEnv: { PATH: `${bin}:/usr/bin:/bin` } });
  afterAll(() => fs.rmSync(bin, { recursive: true, force: true }));

  it('list_containers: a text table with a header (array rule), statuses normalized', async () => {
    const r = await e.run('docker', 'list_containers', {});
    expect(r.result).toEqual([
      { id: '6972a0c2832a3122836573cb39c94278af7368d7f292815ee5239cedac11b4b6', name: 'oc-fixture-d', status: 'provisioning', raw_status: 'Created', status_text: 'Created' },
      { id: 'ef385ebecc72e6ea5393831aedface3852fd06224541dc6b73816c575d0ca91f', name: 'oc-fixture-c', status: 'stopped', raw_status: 'Exited', status_text: 'Exited (3) Less than a second ago' },
      { id: '05ff92d5c0a3ea7f4b54b1c8b2fca04538cdd1c11d129468b10d64f224708e2d', name: 'oc-fixture-b', status: 'provisioning', raw_status: 'Created', status_text: 'Created' },
      { id: '9f5c7ff740be60927d8507320e30736bbe8531ff13bdeda2e779b35543ebf57b', name: 'oc-fixture-a', status: 'running', raw_status: 'Up', status_text: 'Up Less than a second' },
    ]);
  });

  it('inspect_container: JSON read by pointer (json rule)', async () => {
    const r = await e.run('docker', 'inspect_container', { name: 'oc-fixture-a' });
    expect(r.result).toEqual({
      id: '9f5c7ff740be60927d8507320e30736bbe8531ff13bdeda2e779b35543ebf57b',
      name: '/oc-fixture-a',
      image: 'oc-fixture-image',
      status: 'running',
      raw_status: 'running',
      started_at: '2026-11-22T22:41:22.316037747Z',
      ip_address: '172.17.0.2',
      agent_id: 'agent-a',
    });
  });

  it('inspect_volume and list_volumes: JSON and JSON lines, a number transform on a label', async () => {
    expect((await e.run('docker', 'inspect_volume', { name: 'oc-fixture-vol-1' })).result).toEqual({
      name: 'oc-fixture-vol-1',
      mountpoint: '/var/lib/docker/volumes/oc-fixture-vol-1/_data',
      size_mb: 1024,
    });
    const list = (await e.run('docker', 'list_volumes', {})).result as Array<Record<string, unknown>>;
    expect(list).toHaveLength(14);
    expect(list[0]).toEqual({ name: 'oc-fixture-m0', driver: 'local', labels: 'io.bosh-container-cpi.test=fixture-capture' });
    expect(list[13]).toEqual({ name: 'oc-fixture-vol-2', driver: 'local', labels: 'bosh.size_mb=2048,io.bosh-container-cpi.test=fixture-capture' });
  });

  it('test_install and import_image: object rules on one-line outputs; the import argv as templated', async () => {
    expect((await e.run('docker', 'test_install', {})).result).toEqual({ version: '28.2.2' });
    const r = await e.run('docker', 'import_image', { image_path: '/tmp/my image.tgz', name: 'stemcell-1', label_list: ['a=b', 'c=d.e'] });
    expect(r.result).toEqual({ id: 'sha256:beb9d5615be011dee2315089559d9824a1240233709c5a42125d1119dc25fba5' });
    const lines = fs.readFileSync(argvLog, 'utf8').trim().split('\n');
    expect(lines[lines.length - 1]).toBe('import --change LABEL a=b --change LABEL c=d.e /tmp/my image.tgz stemcell-1');
  });

  it('import_image refuses labels that Dockerfile text would read as syntax (docker import takes labels only as LABEL instructions)', async () => {
    const before = fs.readFileSync(argvLog, 'utf8');
    // A line break would start another instruction; a blank, a quote or $ changes what LABEL means.
    for (const label of ['a=b\nENTRYPOINT ["/bin/evil"]', 'c=d e', 'k="v"', 'k=$HOME', 'k=a\\b']) {
      await expect(e.run('docker', 'import_image', { image_path: '/tmp/i.tgz', name: 'stemcell-2', label_list: ['ok=1', label] })).rejects.toMatchObject({ code: 'ValidationError', message: expect.stringContaining("'label_list' does not match") });
    }
    expect(fs.readFileSync(argvLog, 'utf8')).toBe(before);
  });

  it('classifies "No such container" / "no such volume" as ResourceNotFoundError', async () => {
    await expect(e.run('docker', 'inspect_container', { name: 'oc-fixture-missing' })).rejects.toMatchObject({
      code: 'ResourceNotFoundError',
      details: { exit_code: 1, stderr: 'Error response from daemon: No such container: oc-fixture-missing\n' },
    });
    await expect(e.run('docker', 'delete_volume', { name: 'oc-fixture-vol-missing' })).rejects.toMatchObject({ code: 'ResourceNotFoundError' });
  });
});

describe('the shipped docker-api provider rules on captured Engine API responses', () => {
  const api = loadProviderFile(path.join(SHIPPED, 'docker-api.json'));
  const rules = (action: string) => api.actions.get(action)?.main.rules;

  it('reads /containers/{id}/json, /containers/json and /version by JSON pointer', () => {
    expect(applyRules(rules('inspect_container'), fixture('docker', 'api-container.json'), scope, 't')).toMatchObject({
      id: '9f5c7ff740be60927d8507320e30736bbe8531ff13bdeda2e779b35543ebf57b',
      name: '/oc-fixture-a',
      status: 'running',
      ip_address: '172.17.0.2',
    });
    const list = applyRules(rules('list_containers'), fixture('docker', 'api-containers.json'), scope, 't') as Array<Record<string, unknown>>;
    expect(list.map((c) => [c['names'], c['status']])).toEqual([
      [['/oc-fixture-d'], 'created'],
      [['/oc-fixture-c'], 'exited'],
      [['/oc-fixture-b'], 'created'],
      [['/oc-fixture-a'], 'running'],
    ]);
    expect(applyRules(rules('test_install'), fixture('docker', 'api-version.json'), scope, 't')).toEqual({ version: '20.10.24+dfsg1', api_version: '1.41', os: 'linux' });
  });
});

describe('regex rules on captured text', () => {
  it('object: docker version, with patterns that span lines explicitly', () => {
    const r = parse(
      {
        type: 'object',
        patterns: {
          client: { regex: '^Client:[^\\n]*\\n\\s*Version:\\s+(\\S+)' },
          server: { regex: '^ Engine:\\n\\s+Version:\\s+(\\S+)' },
          api: { regex: '^\\s+API version:\\s+([\\d.]+) \\(minimum', transform: 'number' },
          experimental: { regex: '^\\s+Experimental:\\s+(\\w+)', transform: 'boolean' },
          containerd: { regex: '^ containerd:\\n\\s+Version:\\s+(\\S+)' },
        },
      },
      fixture('docker', 'version.txt'),
    );
    expect(r).toEqual({ client: '28.2.2', server: '20.10.24+dfsg1', api: 1.41, experimental: false, containerd: '1.6.20~ds1' });
  });

  it('array: header lines are skipped when the key pattern does not match them, or dropped with header_lines', () => {
    expect(
      parse({ type: 'array', patterns: { id: { regex: '^([0-9a-f]{12})\\s' }, name: { regex: '^\\S+\\s+(\\S+)' }, driver: { regex: '^\\S+\\s+\\S+\\s+(\\S+)' } } }, fixture('docker', 'network-ls-table.txt')),
    ).toEqual([{ id: '6b9233994b6f', name: 'oc-fixture-net', driver: 'bridge' }]);

    const generic = { driver: { regex: '^(\\S+)\\s' }, name: { regex: '(\\S+)$' } };
    const table = fixture('docker', 'volume-ls-table.txt');
    expect((parse({ type: 'array', patterns: generic }, table) as unknown[])[0]).toEqual({ driver: 'DRIVER', name: 'NAME' });
    const items = parse({ type: 'array', header_lines: 1, patterns: generic }, table) as unknown[];
    expect(items).toHaveLength(14);
    expect(items[0]).toEqual({ driver: 'local', name: 'oc-fixture-m0' });
    expect(parse({ type: 'array', header_lines: 1, footer_lines: 13, patterns: generic }, table)).toEqual([{ driver: 'local', name: 'oc-fixture-m0' }]);
  });

  it("array: `virsh list --all` (the survey's failing case): header and rule skipped, 'shut off' kept whole", () => {
    // virsh's documented table layout, as the original std-kvm provider parsed it.
    const virsh = ' Id   Name        State\n-----------------------------\n 1    web-01      running\n -    db-01       shut off\n 7    batch-02    paused\n\n';
    const rules = { type: 'array', patterns: { id: { regex: '^\\s*(\\d+|-)\\s' }, name: { regex: '^\\s*\\S+\\s+(\\S+)' }, state: { regex: '^\\s*\\S+\\s+\\S+\\s+(.+?)\\s*$' } } };
    expect(parse(rules, virsh)).toEqual([
      { id: '1', name: 'web-01', state: 'running' },
      { id: '-', name: 'db-01', state: 'shut off' },
      { id: '7', name: 'batch-02', state: 'paused' },
    ]);
  });

  it('array: an item whose key matches but another required field does not is an error naming it', () => {
    const msg = parseError({ type: 'array', patterns: { id: { regex: '^([0-9a-f]{64})\\s' }, agent: { regex: 'agent=(\\S+)' } } }, fixture('docker', 'ps-table.txt'));
    expect(msg).toMatch(/^ProviderError: field 'agent': .* did not match item 2 of the output \(other fields of that item matched\)/);
  });

  it('array: the separator is a regex, and multi-line items work', () => {
    const text = 'ID: a-1\nName: one\n---\nID: b-2\nName: two words\n---\n';
    expect(parse({ type: 'array', separator: '^---$', patterns: { id: { regex: 'ID:\\s+(\\S+)' }, name: { regex: 'Name:\\s+(.+)$' } } }, text)).toEqual([
      { id: 'a-1', name: 'one' },
      { id: 'b-2', name: 'two words' },
    ]);
  });

  it('properties: array_patterns on indexed lines, items in numeric index order whatever the line order', () => {
    const rules = {
      type: 'properties',
      array_patterns: {
        mounts: {
          prefix: 'Mount',
          index: '(\\d+)',
          object: { name: { regex: 'Name:\\s+(\\S+)' }, destination: { regex: 'Destination:\\s+(\\S+)' }, rw: { regex: 'RW:\\s+(\\w+)', transform: 'boolean' } },
        },
      },
    };
    const text = fixture('docker', 'mounts-indexed.txt');
    const expected = ['m3', 'm6', 'm1', 'm7', 'm11', 'm0', 'm4', 'm5', 'm8', 'm10', 'm2', 'm9'].map((m) => ({ name: `oc-fixture-${m}`, destination: `/data/${m}`, rw: true }));
    expect(parse(rules, text)).toEqual({ mounts: expected });
    const shuffled = text.trim().split('\n').reverse().join('\n');
    expect(parse(rules, shuffled)).toEqual({ mounts: expected });
    expect(parse({ ...rules, array_key: 'mounts' }, text)).toEqual(expected);
  });
});

describe('parse semantics', () => {
  it("boolean: a pattern without a capture says whether it matched; a capture is read as true/false", () => {
    const rules = { type: 'object', patterns: { success: { regex: 'Worker deleted successfully', transform: 'boolean' } } };
    expect(parse(rules, 'Error: worker not found')).toEqual({ success: false });
    expect(parse(rules, 'Worker deleted successfully')).toEqual({ success: true });
    const cap = { type: 'object', patterns: { authenticated: { regex: '"authenticated":\\s*(\\w+)', transform: 'boolean' } } };
    expect(parse(cap, '{"authenticated": false}')).toEqual({ authenticated: false });
    expect(parse(cap, '{"authenticated": true}')).toEqual({ authenticated: true });
    expect(parseError(cap, '{"authenticated": maybe}')).toMatch(/cannot read "maybe" as a boolean/);
  });

  it('number: integers stay integers, big ones keep their digits, junk is an error', () => {
    const rules = { type: 'object', patterns: { n: { regex: 'n=(\\S+)', transform: 'number' } } };
    const n = (s: string) => (parse(rules, `n=${s}`) as { n: unknown }).n;
    expect(n('42')).toBe(42);
    expect(Number.isInteger(n('42'))).toBe(true);
    expect(n('-7')).toBe(-7);
    expect(n('2.5')).toBe(2.5);
    expect(n('12345678901234567890')).toBe('12345678901234567890');
    expect(parseError(rules, 'n=4x')).toMatch(/cannot read "4x" as a number/);
  });

  it('json transform parses a capture; the (.*) idiom captures the whole output, not its first line', () => {
    const pretty = JSON.stringify({ a: 1, b: [1, 2] }, null, 2);
    expect(parse({ type: 'object', patterns: { doc: { regex: '(.*)', group: 1, transform: 'json' } } }, pretty)).toEqual({ doc: { a: 1, b: [1, 2] } });
    expect(parse({ type: 'object', patterns: { raw: { regex: '(.*)', group: 1 } } }, 'line1\nline2')).toEqual({ raw: 'line1\nline2' });
  });

  it('group defaults to 1 with a capture group and 0 without; flags are explicit', () => {
    const text = 'head\nStatus: running\nnext: x';
    expect(parse({ type: 'object', patterns: { s: { regex: 'Status:\\s+(\\w+)' } } }, text)).toEqual({ s: 'running' });
    expect(parse({ type: 'object', patterns: { s: { regex: 'Status:\\s+\\w+' } } }, text)).toEqual({ s: 'Status: running' });
    expect(parse({ type: 'object', patterns: { s: { regex: '^Status: (\\w+)$' } } }, text)).toEqual({ s: 'running' });
    expect(parseError({ type: 'object', patterns: { s: { regex: '^Status: (\\w+)$', flags: '' } } }, text)).toMatch(/field 's'/);
    expect(parse({ type: 'object', patterns: { s: { regex: 'Status: (.*)x', flags: 's' } } }, text)).toEqual({ s: 'running\nnext: ' });
    expect(parse({ type: 'object', patterns: { s: { regex: '(?si)STATUS: (.*)X' } } }, text)).toEqual({ s: 'running\nnext: ' });
    expect(parse({ type: 'object', patterns: { s: { regex: 'status: (\\w+)', flags: 'i' } } }, text)).toEqual({ s: 'running' });
  });

  it('optional fields are left out, defaults fill in, a missing required field names itself', () => {
    const rules = { type: 'object', patterns: { a: { regex: 'a=(\\d+)', optional: true }, b: { regex: 'b=(\\d+)', default: 0 }, c: { regex: 'c=(\\d+)' } } };
    expect(parse(rules, 'c=3')).toEqual({ b: 0, c: '3' });
    expect(parseError(rules, 'nothing')).toBe("ProviderError: field 'c': /c=(\\d+)/m did not match the output");
  });

  it('related_patterns compare with an earlier field (match_value)', () => {
    const rules = {
      type: 'properties',
      patterns: { primary: { regex: 'primary: (\\S+)' } },
      related_patterns: { boot_is_primary: { regex: 'boot: (\\S+)', match_value: 'primary' }, other: { regex: 'other: (\\S+)', optional: true } },
    };
    expect(parse(rules, 'primary: sda\nboot: sda')).toEqual({ primary: 'sda', boot_is_primary: true });
    expect(parse(rules, 'primary: sda\nboot: sdb\nother: x')).toEqual({ primary: 'sda', boot_is_primary: 'sdb', other: 'x' });
  });

  it('json: lines, items and fields; bad JSON names the line without quoting it', () => {
    const lines = parse({ type: 'json', lines: true, fields: { id: '/ID', state: '/State' } }, fixture('docker', 'ps-json-lines.txt')) as unknown[];
    expect(lines).toEqual([
      { id: '6972a0c2832a3122836573cb39c94278af7368d7f292815ee5239cedac11b4b6', state: 'created' },
      { id: 'ef385ebecc72e6ea5393831aedface3852fd06224541dc6b73816c575d0ca91f', state: 'exited' },
      { id: '05ff92d5c0a3ea7f4b54b1c8b2fca04538cdd1c11d129468b10d64f224708e2d', state: 'created' },
      { id: '9f5c7ff740be60927d8507320e30736bbe8531ff13bdeda2e779b35543ebf57b', state: 'running' },
    ]);
    expect(parse({ type: 'json', items: '/0/Mounts', fields: { to: '/Destination' } }, fixture('docker', 'container-inspect.json'))).toEqual([]);
    expect(parse({ type: 'json', fields: { a: { pointer: '/x~1y', optional: true }, b: { pointer: '/n', transform: 'string' } } }, '{"x/y": 1, "n": 5}')).toEqual({ a: 1, b: '5' });
    expect(parseError({ type: 'json', lines: true }, '{"a":1}\n{"password":"hunter2",}')).toMatch(/^ProviderError: line 2 of the output is not JSON/);
    expect(parseError({ type: 'json', lines: true }, '{"a":1}\n{"password":"hunter2",}')).not.toMatch(/hunter2/);
    expect(parseError({ type: 'json', fields: { id: '/Id' } }, '{}')).toMatch(/field 'id': nothing at JSON pointer '\/Id'/);
  });

  it('no parse rules: the trimmed output; text rule: the output', () => {
    expect(parse({ type: 'text', trim: false }, ' a \n')).toBe(' a \n');
    const p = provider({ name: 'p', type: 'command', actions: { a: { command: 'true' } } });
    expect(applyRules(p.actions.get('a')?.main.rules, '  x\n', scope, 't')).toBe('x');
  });
});

describe('the regex engine is linear-time', () => {
  it('a pattern that backtracks catastrophically elsewhere (^(a+)+$ on 28+ characters) answers at once', () => {
    const started = Date.now();
    expect(parse({ type: 'object', patterns: { m: { regex: '^(a+)+$', transform: 'boolean' } } }, `${'a'.repeat(5000)}b`)).toEqual({ m: false });
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

