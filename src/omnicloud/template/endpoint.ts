/**
 * Endpoint templates (url, headers, body, unix_socket), each with the encoding of its context:
 *
 * - url: a placeholder that starts the URL is the base URL (`{api_url}/instances`) and must itself be
 *   an absolute http(s) URL; every other value is percent-encoded, and a value that would become a
 *   `.`/`..` path segment is refused;
 * - headers: names are literal; values are inserted as they are, but CR, LF and NUL are refused;
 * - body as a string: JSON by default — a value inside a JSON string is JSON-escaped, a value
 *   outside one is inserted as a JSON value — percent-encoded for
 *   application/x-www-form-urlencoded, as is for text/*;
 * - body as a JSON value: string leaves are templates; a leaf that is exactly one placeholder takes
 *   the value with its JSON type (an object stays an object).
 */
import { validationError } from '../errors';
import { parseTemplate, type Segment } from './placeholders';
import { TemplateSyntaxError } from './shell';
import { renderSegments, requireValue, toText, type Json, type Scope } from './values';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS' | string;

type JsonSeg = { kind: 'text'; text: string } | { kind: 'param'; name: string; inString: boolean };

type BodyTemplate =
  | { kind: 'json-text'; segments: JsonSeg[] }
  | { kind: 'form'; segments: Segment[] }
  | { kind: 'text'; segments: Segment[] }
  | { kind: 'json-value'; value: Json };

export interface CompiledEndpoint {
  method: HttpMethod;
  url: Segment[];
  headers: Array<{ name: string; value: Segment[] }>;
  body?: BodyTemplate;
  socket?: Segment[];
  contentType?: string;
}

export interface EndpointSpec {
  url: string;
  method: HttpMethod;
  headers?: Record<string, string>;
  body?: string | Json;
  unix_socket?: string;
}

function headerValue(headers: Record<string, string> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const k = Object.keys(headers).find((h) => h.toLowerCase() === name);
  return k === undefined ? undefined : headers[k];
}

/** Marks every placeholder of a JSON text template as inside or outside a JSON string. */
function jsonSegments(segments: readonly Segment[]): JsonSeg[] {
  let inString = false;
  let escaped = false;
  return segments.map((s) => {
    if (s.kind === 'param') return { kind: 'param', name: s.name, inString };
    for (const c of s.text) {
      if (escaped) escaped = false;
      else if (inString && c === '\\') escaped = true;
      else if (c === '"') inString = !inString;
    }
    return { kind: 'text', text: s.text };
  });
}

function walkJson(v: Json, visit: (s: string) => void): void {
  if (typeof v === 'string') visit(v);
  else if (Array.isArray(v)) v.forEach((x) => walkJson(x, visit));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) (visit(k), walkJson(x, visit));
}

export function compileEndpoint(ep: EndpointSpec): CompiledEndpoint {
  const headers = Object.entries(ep.headers ?? {}).map(([name, value]) => {
    if (parseTemplate(name).some((s) => s.kind === 'param')) throw new TemplateSyntaxError(`header name '${name}' must not contain placeholders`);
    return { name, value: parseTemplate(value) };
  });
  const out: CompiledEndpoint = { method: ep.method, url: parseTemplate(ep.url), headers };
  const ct = headerValue(ep.headers, 'content-type');
  if (ep.unix_socket !== undefined) out.socket = parseTemplate(ep.unix_socket);
  if (ep.body !== undefined) {
    if (typeof ep.body !== 'string') out.body = { kind: 'json-value', value: ep.body };
    else if (ct && /x-www-form-urlencoded/i.test(ct)) out.body = { kind: 'form', segments: parseTemplate(ep.body) };
    else if (ct && /^text\//i.test(ct)) out.body = { kind: 'text', segments: parseTemplate(ep.body) };
    else {
      const segs = jsonSegments(parseTemplate(ep.body));
      out.body = { kind: 'json-text', segments: segs };
      // The body must be JSON whatever the values are: try it with stand-ins.
      const probe = segs.map((s) => (s.kind === 'text' ? s.text : s.inString ? 'x' : '0')).join('');
      try {
        JSON.parse(probe);
      } catch {
        throw new TemplateSyntaxError('the body is not valid JSON (values inside "…" are JSON-escaped, values outside are inserted as JSON values)');
      }
    }
    if (!ct) out.contentType = 'application/json';
  }
  return out;
}

export function endpointPlaceholders(c: CompiledEndpoint): string[] {
  const names = new Set<string>();
  const add = (segs: readonly Segment[] | readonly JsonSeg[]) => segs.forEach((s) => s.kind === 'param' && names.add(s.name));
  add(c.url);
  c.headers.forEach((h) => add(h.value));
  if (c.socket) add(c.socket);
  if (c.body?.kind === 'json-value') walkJson(c.body.value, (s) => add(parseTemplate(s)));
  else if (c.body) add(c.body.segments);
  return [...names];
}

function renderUrl(segs: readonly Segment[], scope: Scope, where: string): URL {
  let s = '';
  let inPath = true;
  segs.forEach((seg, i) => {
    if (seg.kind === 'text') {
      if (/[?#]/.test(seg.text)) inPath = false;
      s += seg.text;
      return;
    }
    const text = toText(requireValue(scope, seg.name, where), seg.name, where);
    if (i === 0) {
      let base: URL;
      try {
        base = new URL(text);
      } catch {
        throw validationError(`${where}: {${seg.name}} starts the URL and must be an absolute http(s) URL`, { placeholder: seg.name });
      }
      // A query or fragment in a base URL would swallow the template's path (`?x=` + `/instances`).
      if (!/^https?:$/.test(base.protocol) || base.hash || base.search || /[?#]/.test(text) || text.includes('{')) {
        throw validationError(`${where}: {${seg.name}} starts the URL and must be an absolute http(s) URL without a query or fragment`, { placeholder: seg.name });
      }
      s += text.replace(/\/+$/, '');
      return;
    }
    if (inPath && (text === '.' || text === '..')) throw validationError(`${where}: the value of {${seg.name}} would be a '${text}' path segment`, { placeholder: seg.name });
    s += encodeURIComponent(text);
  });
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw validationError(`${where}: the URL is not valid after substitution`);
  }
  if (!/^https?:$/.test(url.protocol)) throw validationError(`${where}: only http and https URLs are supported`);
  return url;
}

function renderJsonValue(v: Json, scope: Scope, where: string): unknown {
  if (typeof v === 'string') {
    const segs = parseTemplate(v);
    const only = segs.length === 1 ? segs[0] : undefined;
    if (only && only.kind === 'param') return requireValue(scope, only.name, where);
    return renderSegments(segs, scope, where);
  }
  if (Array.isArray(v)) return v.map((x) => renderJsonValue(x, scope, where));
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[renderSegments(parseTemplate(k), scope, where)] = renderJsonValue(x, scope, where);
    return o;
  }
  return v;
}

function renderBody(b: BodyTemplate, scope: Scope, where: string): string {
  switch (b.kind) {
    case 'json-value':
      return JSON.stringify(renderJsonValue(b.value, scope, where));
    case 'form':
      return renderSegments(b.segments, scope, where, encodeURIComponent);
    case 'text':
      return renderSegments(b.segments, scope, where);
    case 'json-text': {
      const text = b.segments
        .map((s) => {
          if (s.kind === 'text') return s.text;
          const v = requireValue(scope, s.name, where);
          return s.inString ? JSON.stringify(toText(v, s.name, where)).slice(1, -1) : JSON.stringify(v);
        })
        .join('');
      try {
        JSON.parse(text);
      } catch {
        throw validationError(`${where}: the body is not valid JSON after substitution`);
      }
      return text;
    }
  }
}

export interface RenderedRequest {
  method: HttpMethod;
  url: URL;
  headers: Record<string, string>;
  body?: string;
  socketPath?: string;
}

export function renderEndpoint(c: CompiledEndpoint, scope: Scope, where: string): RenderedRequest {
  const headers: Record<string, string> = {};
  for (const h of c.headers) {
    const v = renderSegments(h.value, scope, where);
    if (/[\r\n\0]/.test(v)) throw validationError(`${where}: the value of header '${h.name}' would contain a line break or NUL`, { header: h.name });
    headers[h.name] = v;
  }
  const req: RenderedRequest = { method: c.method, url: renderUrl(c.url, scope, where), headers };
  if (c.body) {
    req.body = renderBody(c.body, scope, where);
    if (c.contentType) headers['Content-Type'] = c.contentType;
  }
  if (c.socket) {
    const p = renderSegments(c.socket, scope, where);
    if (!p.startsWith('/') || p.includes('\0')) throw validationError(`${where}: unix_socket must be an absolute path`);
    req.socketPath = p;
  }
  return req;
}
