/**
 * Enough of go-patch (the ops-file language of `bosh int -o`) to apply the ops files here in
 * tests: `replace` and `remove` with paths made of keys, array indexes, `-` (append) and
 * `name=value` selectors, where `?` marks that token and all after it as optional (created when
 * missing on replace, ignored on remove).
 */
type Node = Record<string, unknown> | unknown[];

export interface Op {
  type: 'replace' | 'remove';
  path: string;
  value?: unknown;
}

interface Token {
  kind: 'key' | 'index' | 'append' | 'match';
  key: string;
  index: number;
  value: string;
  optional: boolean;
}

function parse(p: string): Token[] {
  if (!p.startsWith('/')) throw new Error(`path '${p}' must start with /`);
  let optional = false;
  return p
    .slice(1)
    .split('/')
    .map((raw) => {
      const text = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      optional = optional || text.endsWith('?');
      const t = text.endsWith('?') ? text.slice(0, -1) : text;
      if (t === '-') return { kind: 'append', key: '', index: -1, value: '', optional } as Token;
      if (/^\d+$/.test(t)) return { kind: 'index', key: '', index: Number(t), value: '', optional } as Token;
      const eq = t.indexOf('=');
      if (eq > 0) return { kind: 'match', key: t.slice(0, eq), index: -1, value: t.slice(eq + 1), optional } as Token;
      return { kind: 'key', key: t, index: -1, value: '', optional } as Token;
    });
}

const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function emptyFor(next: Token): Node {
  return next.kind === 'key' ? {} : [];
}

export function applyOp(doc: unknown, op: Op): unknown {
  const tokens = parse(op.path);
  const root = clone(doc);
  let cur: unknown = root;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as Token;
    const last = i === tokens.length - 1;
    const next = tokens[i + 1] as Token;
    const where = `/${op.path.slice(1).split('/').slice(0, i + 1).join('/')}`;
    if (t.kind === 'key') {
      if (!isObj(cur)) throw new Error(`${op.path}: ${where} expects a map`);
      if (last) {
        if (op.type === 'remove') {
          if (!(t.key in cur) && !t.optional) throw new Error(`${op.path}: ${where} not found`);
          delete cur[t.key];
        } else cur[t.key] = clone(op.value);
        return root;
      }
      if (cur[t.key] === undefined || cur[t.key] === null) {
        if (!t.optional) throw new Error(`${op.path}: ${where} not found`);
        if (op.type === 'remove') return root;
        cur[t.key] = emptyFor(next);
      }
      cur = cur[t.key];
    } else {
      if (!Array.isArray(cur)) throw new Error(`${op.path}: ${where} expects an array`);
      let idx: number;
      if (t.kind === 'append') {
        if (!last || op.type === 'remove') throw new Error(`${op.path}: '-' only appends, at the end of a replace`);
        cur.push(clone(op.value));
        return root;
      } else if (t.kind === 'index') idx = t.index;
      else idx = cur.findIndex((e) => isObj(e) && String(e[t.key]) === t.value);
      if (idx < 0 || idx >= cur.length) {
        if (!t.optional) throw new Error(`${op.path}: ${where} not found`);
        if (op.type === 'remove') return root;
        cur.push(t.kind === 'match' ? { [t.key]: t.value } : emptyFor(next));
        idx = cur.length - 1;
      }
      if (last) {
        if (op.type === 'remove') cur.splice(idx, 1);
        else cur[idx] = clone(op.value);
        return root;
      }
      cur = cur[idx];
    }
  }
  return root;
}

export function applyOps(doc: unknown, ops: Op[]): unknown {
  return ops.reduce((d, op) => applyOp(d, op), doc);
}

/** The value at a go-patch path, or undefined. */
export function get(doc: unknown, p: string): unknown {
  let cur: unknown = doc;
  for (const t of parse(p)) {
    if (t.kind === 'key') cur = isObj(cur) ? cur[t.key] : undefined;
    else if (t.kind === 'index') cur = Array.isArray(cur) ? cur[t.index] : undefined;
    else if (t.kind === 'match') cur = Array.isArray(cur) ? cur.find((e) => isObj(e) && String(e[t.key]) === t.value) : undefined;
    else return undefined;
  }
  return cur;
}
