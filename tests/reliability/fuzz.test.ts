/**
 * 10,000 generated requests through bin/cpi against the real engine: random JSON and raw text,
 * wrong types, huge and unicode strings, deep nesting, missing keys, wrong arity, hostile values.
 * Every one must get one valid {result, error, log} on STDOUT, exit 0, no stack trace, and
 * nothing may be created. FUZZ_COUNT overrides the count (e.g. for a quick local run).
 */
import * as fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CpiBackend } from '../../src/cpi/backend';
import { METHOD_NAMES, METHODS } from '../../src/cpi/methods';
import { loadConfig } from '../../src/config/load';
import { createLogSession } from '../../src/log/logger';
import { runRaw } from '../helpers/cpi';
import { labelled } from '../helpers/docker';
import { Lab, SUBNETS } from '../helpers/lab';

const COUNT = Number(process.env['FUZZ_COUNT'] ?? 10_000);
const PARALLEL = 6;
const lab = new Lab('fuzz', SUBNETS.fuzz);

const HOSTILE = ['; rm -rf /', '$(id)', '`id`', "'; DROP TABLE x; --", '"quoted"', 'line\nbreak', '{other}', '{{.ID}}', '../../../etc/passwd', '%2e%2e%2f', '\u0000nul', '\u202eevil', 'a'.repeat(5000)];

const jsonValue = fc.jsonValue({ maxDepth: 3 });
const hostile = fc.constantFrom(...HOSTILE);
const weirdString = fc.oneof(fc.string(), fc.string({ unit: 'grapheme', maxLength: 64 }), hostile, fc.constant(''), fc.constant('x'.repeat(70_000)));

/** Nesting deeper than any parser limit should bother about. */
const deep = fc.integer({ min: 50, max: 3000 }).map((n) => JSON.parse('['.repeat(n) + ']'.repeat(n)) as unknown);

const validArgs: Record<string, unknown[]> = {
  create_stemcell: ['/nonexistent/image', { name: 'x', version: '1' }],
  delete_stemcell: ['bosh.io/stemcells:img-x'],
  create_vm: ['agent', 'bosh.io/stemcells:img-00000000-0000-4000-8000-000000000000', {}, {}, [], {}],
  delete_vm: ['c-x'],
  has_vm: ['c-x'],
  reboot_vm: ['c-x'],
  set_vm_metadata: ['c-x', { a: 'b' }],
  calculate_vm_cloud_properties: [{ cpu: 1, ram: 1, ephemeral_disk_size: 1 }],
  create_disk: [1, {}, null],
  delete_disk: ['vol-x'],
  attach_disk: ['c-x', 'vol-x'],
  detach_disk: ['c-x', 'vol-x'],
  has_disk: ['vol-x'],
  get_disks: ['c-x'],
  resize_disk: ['vol-x', 2],
  update_disk: ['vol-x', 2, {}],
  set_disk_metadata: ['vol-x', {}],
  snapshot_disk: ['vol-x', {}],
  delete_snapshot: ['snap-x'],
  create_network: [{ type: 'manual', cloud_properties: {} }],
  delete_network: ['net-x'],
  current_vm_id: [],
  info: [],
  ping: [],
};

/** Arguments broken on purpose: a wrong type, one missing, deep nesting or a hostile string. */
const mutatedArgs = fc
  .record({
    method: fc.constantFrom(...Object.keys(validArgs)),
    index: fc.nat(8),
    kind: fc.constantFrom('type', 'drop', 'deep', 'hostile', 'extra'),
    value: jsonValue,
    deepValue: deep,
    hostileValue: hostile,
  })
  .map(({ method, index, kind, value, deepValue, hostileValue }) => {
    const args = [...(validArgs[method] as unknown[])];
    const i = args.length ? index % args.length : 0;
    if (kind === 'drop') args.splice(i, 1);
    else if (kind === 'deep') args[i] = deepValue;
    else if (kind === 'hostile') args[i] = hostileValue;
    else if (kind === 'extra') args.push(value, hostileValue);
    else args[i] = typeof args[i] === typeof value && value !== null ? [value] : value;
    return { method, arguments: args, context: { director_uuid: 'fuzz' }, api_version: 2 };
  });

const envelope = fc.record(
  {
    method: fc.oneof(fc.constantFrom(...METHOD_NAMES, '__proto__', 'constructor', 'toString'), weirdString, jsonValue),
    arguments: fc.oneof(fc.array(fc.oneof(jsonValue, weirdString), { maxLength: 8 }), jsonValue),
    context: fc.oneof(fc.dictionary(fc.string(), jsonValue), jsonValue, fc.record({ director_uuid: weirdString, request_id: weirdString, vm: jsonValue })),
    api_version: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(null)),
  },
  { requiredKeys: [] },
);

const rawText = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.constantFrom('', ' ', '{', '[', 'null', 'true', '{"method":', '{"method":"info"', '{"method":"info","arguments":[],"context":{}', '\u0000', '{}{}'),
  jsonValue.map((v) => JSON.stringify(v)),
);

const request = fc.oneof(
  { weight: 3, arbitrary: mutatedArgs.map((r) => JSON.stringify(r)) },
  { weight: 3, arbitrary: envelope.map((r) => JSON.stringify(r)) },
  { weight: 2, arbitrary: rawText },
);

/** A request whose arguments pass validation for a method that creates something is skipped. */
async function wouldCreate(text: string): Promise<boolean> {
  let req: { method?: unknown; arguments?: unknown };
  try {
    req = JSON.parse(text) as typeof req;
  } catch {
    return false;
  }
  if (!req || typeof req !== 'object' || typeof req.method !== 'string' || !Array.isArray(req.arguments)) return false;
  if (!['create_disk', 'create_network', 'create_stemcell', 'snapshot_disk'].includes(req.method)) return false;
  const entry = Object.prototype.hasOwnProperty.call(METHODS, req.method) ? METHODS[req.method] : undefined;
  if (!entry) return false;
  const logs = createLogSession();
  logs.setLevel('silent');
  const reached = Symbol('reached');
  const backend = new Proxy({ name: 'probe' } as CpiBackend, {
    get: (t, k) => (k === 'name' ? t.name : () => Promise.reject(reached)),
  });
  try {
    await entry.run(req.arguments, { config: loadConfig({ env: {} }).config, log: logs.logger, apiVersion: 2 }, () => backend);
  } catch (e) {
    return e === reached;
  }
  return false;
}

function checkResponse(stdout: string, code: number | null): string | undefined {
  if (code !== 0) return `exit ${code}`;
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(stdout) as Record<string, unknown>;
  } catch {
    return 'STDOUT is not one JSON document';
  }
  if (!r || typeof r !== 'object' || Array.isArray(r)) return 'not an object';
  if (Object.keys(r).sort().join() !== 'error,log,result') return `keys ${Object.keys(r).join()}`;
  if (typeof r['log'] !== 'string') return 'log is not a string';
  const e = r['error'] as Record<string, unknown> | null;
  if (e !== null && (typeof e !== 'object' || typeof e['type'] !== 'string' || typeof e['message'] !== 'string' || typeof e['ok_to_retry'] !== 'boolean')) return 'bad error';
  if (/\n\s+at .*\(|\bat Object\.<anonymous>/.test(stdout)) return 'stack trace on STDOUT';
  return undefined;
}

describe('fuzzing', () => {
  it(`answers ${COUNT} generated requests, each with one valid response and exit 0, creating nothing`, async () => {
    const samples = fc.sample(request, { numRuns: COUNT, seed: 20261122 });
    const started = Date.now();
    const failures: string[] = [];
    let answered = 0;
    let skipped = 0;
    let next = 0;
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= samples.length) return;
        let text = samples[i] as string;
        if (await wouldCreate(text)) {
          skipped++;
          text = '{"method":"ping","arguments":[],"context":{}}';
        }
        const run = await runRaw(text, lab.opts({ env: { BOSH_CPI_LOG_LEVEL: 'info' } }));
        const problem = checkResponse(run.stdout, run.code);
        if (problem) failures.push(`#${i} ${problem}: ${text.slice(0, 200)} → ${run.stdout.slice(0, 300)}`);
        else answered++;
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    const ms = Date.now() - started;
    const left = await labelled(lab.runId);
    const summary = { requests: COUNT, valid_responses: answered, failures: failures.length, skipped_creating: skipped, ms, per_second: Math.round((COUNT / ms) * 1000), leaked: left };
    fs.mkdirSync(path.join(__dirname, '..', '..', '.bench'), { recursive: true });
    fs.writeFileSync(path.join(__dirname, '..', '..', '.bench', 'fuzz.json'), JSON.stringify(summary, null, 2));
    process.stdout.write(`fuzz: ${JSON.stringify(summary)}\n`);
    expect(failures.slice(0, 10)).toEqual([]);
    expect(answered).toBe(COUNT);
    expect(left).toEqual({ containers: [], volumes: [], networks: [], images: [] });
  }, 3_600_000);
});
