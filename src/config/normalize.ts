/**
 * Maps configuration as operators write it onto the canonical schema:
 *
 * - keys match case-insensitively, as Go's encoding/json matched them for the Go Docker CPI
 *   ("Actions"/"actions", "Mbus"/"mbus"); free-form maps (labels, blobstore options) keep theirs;
 * - the Go CPI's `Actions.Docker` / `Actions.Agent` become `docker` / `agent`;
 * - the multi-CPI context form with Docker options at the top level (`host`, `api_version`,
 *   `tls`) becomes `docker`;
 * - TLS `cert` / `key` are accepted for `certificate` / `private_key`.
 */
import type * as z from 'zod/mini';

type Obj = Record<string, unknown>;

export function isPlainObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function keyCI(obj: Obj, name: string): string | undefined {
  if (name in obj) return name;
  const lower = name.toLowerCase();
  return Object.keys(obj).find((k) => k.toLowerCase() === lower);
}

/** Deep merge: objects merge key by key, anything else in `over` replaces `base`. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(out[k], v);
  return out;
}

function take(obj: Obj, name: string): unknown {
  const k = keyCI(obj, name);
  if (k === undefined) return undefined;
  const v = obj[k];
  delete obj[k];
  return v;
}

/** Lifts the Go CPI's and the multi-CPI context's shapes into canonical places. */
export function liftLegacyShapes(raw: Obj): Obj {
  const out: Obj = { ...raw };
  let docker: unknown = take(out, 'docker');
  let agent: unknown = take(out, 'agent');

  const actions = take(out, 'actions');
  if (isPlainObject(actions)) {
    const rest = { ...actions };
    docker = deepMerge(take(rest, 'docker'), docker);
    agent = deepMerge(take(rest, 'agent'), agent);
    // Anything else under Actions is left where the schema will report it.
    if (Object.keys(rest).length) out['Actions'] = rest;
  } else if (actions !== undefined) {
    out['Actions'] = actions;
  }

  const topLevelDocker: Obj = {};
  for (const name of ['host', 'api_version', 'tls']) {
    const v = take(out, name);
    if (v !== undefined) topLevelDocker[name] = v;
  }
  if (Object.keys(topLevelDocker).length) docker = deepMerge(docker, topLevelDocker);

  if (isPlainObject(docker)) {
    const d: Obj = { ...docker };
    const tls = d[keyCI(d, 'tls') ?? 'tls'];
    if (isPlainObject(tls)) {
      const t: Obj = { ...tls };
      const cert = take(t, 'cert');
      const key = take(t, 'key');
      if (cert !== undefined && keyCI(t, 'certificate') === undefined) t['certificate'] = cert;
      if (key !== undefined && keyCI(t, 'private_key') === undefined) t['private_key'] = key;
      d[keyCI(d, 'tls') ?? 'tls'] = t;
    }
    docker = d;
  }
  if (docker !== undefined) out['docker'] = docker;
  if (agent !== undefined) out['agent'] = agent;
  return out;
}

interface Def {
  type: string;
  innerType?: z.ZodMiniType;
  in?: z.ZodMiniType;
  shape?: Record<string, z.ZodMiniType>;
  valueType?: z.ZodMiniType;
  element?: z.ZodMiniType;
}

function defOf(schema: z.ZodMiniType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

/** Strips optional/nullable/default/pipe wrappers to reach the structural schema. */
function unwrap(schema: z.ZodMiniType): z.ZodMiniType {
  let s = schema;
  for (let i = 0; i < 16; i++) {
    const d = defOf(s);
    const inner = d.innerType ?? (d.type === 'pipe' ? d.in : undefined);
    if (!inner) return s;
    s = inner;
  }
  return s;
}

/** Renames keys to the schema's spelling where they match case-insensitively. */
export function canonicalizeKeys(schema: z.ZodMiniType, value: unknown): unknown {
  const s = unwrap(schema);
  const def = defOf(s);
  if (def.type === 'object' && def.shape && isPlainObject(value)) {
    const shape = def.shape;
    const byLower = new Map(Object.keys(shape).map((k) => [k.toLowerCase(), k]));
    const out: Obj = {};
    for (const [k, v] of Object.entries(value)) {
      const canon = k in shape ? k : byLower.get(k.toLowerCase());
      if (canon !== undefined) out[canon] = canonicalizeKeys(shape[canon] as z.ZodMiniType, v);
      else out[k] = v;
    }
    return out;
  }
  if (def.type === 'record' && def.valueType && isPlainObject(value)) {
    const vt = def.valueType;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, canonicalizeKeys(vt, v)]));
  }
  if (def.type === 'array' && def.element && Array.isArray(value)) {
    const el = def.element;
    return value.map((v) => canonicalizeKeys(el, v));
  }
  return value;
}
