/**
 * Status normalization (standardization §6.1): a provider's `status_map` turns raw statuses
 * (`exited`, `shut off`, `active`) into the standard ones, in every object of a result that has a
 * status field; the raw value is kept next to it as `raw_<field>`.
 */
export const STATUSES = ['running', 'stopped', 'starting', 'stopping', 'provisioning', 'terminating', 'error', 'suspended'] as const;
export type Status = (typeof STATUSES)[number];

export interface StatusMapping {
  map: ReadonlyMap<string, Status>;
  fields: readonly string[];
}

export function statusMapping(map: Record<string, string> | undefined, fields: readonly string[] | undefined): StatusMapping | undefined {
  if (!map) return undefined;
  return { map: new Map(Object.entries(map).map(([k, v]) => [k.trim().toLowerCase(), v as Status])), fields: fields ?? ['status'] };
}

/** The standard status of a raw one, or undefined when the map has none and it is not standard. */
function normalizeStatus(m: StatusMapping, raw: string): Status | undefined {
  const key = raw.trim().toLowerCase();
  const mapped = m.map.get(key);
  if (mapped) return mapped;
  return (STATUSES as readonly string[]).includes(key) ? (key as Status) : undefined;
}

/**
 * Applies the mapping to a parsed result (objects, arrays of objects, one level of nesting).
 * Returns the raw statuses that had no mapping, so the caller can warn about them.
 */
export function applyStatusMap(m: StatusMapping | undefined, result: unknown): { result: unknown; unmapped: string[] } {
  const unmapped: string[] = [];
  if (!m) return { result, unmapped };
  const visit = (v: unknown, depth: number): unknown => {
    if (depth > 3) return v;
    if (Array.isArray(v)) return v.map((x) => visit(x, depth + 1));
    if (v === null || typeof v !== 'object') return v;
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (m.fields.includes(k) && typeof x === 'string') {
        const s = normalizeStatus(m, x);
        o[k] = s ?? x;
        o[`raw_${k}`] = x;
        if (!s) unmapped.push(x);
      } else o[k] = typeof x === 'object' ? visit(x, depth + 1) : x;
    }
    return o;
  };
  return { result: visit(result, 0), unmapped };
}
