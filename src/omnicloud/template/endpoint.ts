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
 *   the value with its JSON type (an object stays an object);
 * - body_file: exactly one placeholder, a parameter holding the path of a file to upload
 *   (exec/bodies.ts checks and opens it); body_archive: a tar of files whose names are literal and
 *   whose contents are templates; response_archive_member: the response is a tar, read one file.
 *
 * Arrays of strings in a JSON body whose first word names a program (`"Cmd": ["sh", "-c", …]`)
 * are argv: bodyArgvs hands them to the code-position analysis like any command template.
 */
import { validationError } from '../errors';
import { checkBodyPath, type ArchiveFile } from '../exec/bodies';
import { parseTemplate, type Segment } from './placeholders';
import type { ArgWord } from './programs';
import { TemplateSyntaxError } from './shell';
import { renderSegments, requireValue, toText, type Json, type Scope } from './values';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS' | string;

type JsonSeg = { kind: 'text'; text: string } | { kind: 'param'; name: string; inString: boolean };

type BodyTemplate =
  | { kind: 'json-text'; segments: JsonSeg[] }
  | { kind: 'form'; segments: Segment[] }
  | { kind: 'text'; segments: Segment[] }
  | { kind: 'json-value'; value: Json };

export type UploadTemplate = { kind: 'file'; param: string; maxBytes: number } | { kind: 'archive'; files: Array<{ name: string; content: Segment[]; mode: number }> };

export interface CompiledEndpoint {
  method: HttpMethod;
  url: Segment[];
  headers: Array<{ name: string; value: Segment[] }>;
  body?: BodyTemplate;
  upload?: UploadTemplate;
  /** The response is a tar archive; the text to parse is this file's content. */
  archiveMember?: string;
  socket?: Segment[];
  contentType?: string;
}

export interface EndpointSpec {
  url: string;
  method: HttpMethod;
  headers?: Record<string, string>;
  body?: string | Json;
  body_file?: string;
  max_body_bytes?: number;
  body_archive?: ReadonlyArray<{ name: string; content: string; mode?: number }>;
  response_archive_member?: string;
  unix_socket?: string;
}

/** What body_file may send at most unless the provider says (a stemcell image is a few GB at most). */
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 ** 3;

/** A name inside an archive: literal, relative, no `.`/`..` segment (it must not climb out). */
const ARCHIVE_NAME = /^[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]*(\/[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]*)*$/;

function archiveName(name: string, what: string): string {
  if (!ARCHIVE_NAME.test(name) || name.split('/').some((x) => x === '.' || x === '..')) {
    throw new TemplateSyntaxError(`${what} '${name}' must be a literal relative path (letters, digits, _ . @ + -; no '.' or '..' segment, no placeholder)`);
  }
  return name;
}

function compileUpload(ep: EndpointSpec): UploadTemplate | undefined {
  if (ep.body_file !== undefined) {
    const segs = parseTemplate(ep.body_file);
    const only = segs.length === 1 ? segs[0] : undefined;
    if (!only || only.kind !== 'param' || only.name.includes('.')) throw new TemplateSyntaxError(`body_file must be exactly one placeholder naming a parameter that holds the file's path (e.g. "{image_path}"), got '${ep.body_file}'`);
    return { kind: 'file', param: only.name, maxBytes: ep.max_body_bytes ?? DEFAULT_MAX_BODY_BYTES };
  }
  if (ep.body_archive !== undefined) {
    const names = new Set<string>();
    const files = ep.body_archive.map((f) => {
      const name = archiveName(f.name, 'body_archive name');
      if (names.has(name)) throw new TemplateSyntaxError(`body_archive holds '${name}' twice`);
      names.add(name);
      return { name, content: parseTemplate(f.content), mode: f.mode ?? 0o600 };
    });
    return { kind: 'archive', files };
  }
  return undefined;
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
  if ([ep.body, ep.body_file, ep.body_archive].filter((b) => b !== undefined).length > 1) throw new TemplateSyntaxError('holds more than one of body, body_file and body_archive');
  if (ep.max_body_bytes !== undefined && ep.body_file === undefined) throw new TemplateSyntaxError('max_body_bytes is for body_file only');
  const upload = compileUpload(ep);
  if (upload) {
    out.upload = upload;
    if (!ct) out.contentType = upload.kind === 'archive' ? 'application/x-tar' : 'application/octet-stream';
  }
  if (ep.response_archive_member !== undefined) out.archiveMember = archiveName(ep.response_archive_member, 'response_archive_member');
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
  if (c.upload?.kind === 'file') names.add(c.upload.param);
  if (c.upload?.kind === 'archive') c.upload.files.forEach((f) => add(f.content));
  return [...names];
}

/** Private-use marks standing for placeholders while a JSON text body is parsed for its arrays. */
const MARK = /\uE000(\d+)\uE001/g;

/** The body as a JSON tree whose strings are templates (a text body parsed with marks for its placeholders). */
function bodyTree(b: BodyTemplate | undefined): { tree: Json; names: readonly string[] } | undefined {
  if (b?.kind === 'json-value') return { tree: b.value, names: [] };
  if (b?.kind !== 'json-text') return undefined;
  const names: string[] = [];
  const text = b.segments.map((s) => (s.kind === 'text' ? s.text : ((names.push(s.name), s.inString ? `\uE000${names.length - 1}\uE001` : `"\uE000${names.length - 1}\uE001"`)))).join('');
  return { tree: JSON.parse(text) as Json, names };
}

/** A JSON string of the body as an argv word: literal text, or the placeholders it holds. */
function argWord(s: string, names: readonly string[]): ArgWord {
  const values = [...s.matchAll(MARK)].map((m) => names[Number(m[1])] as string);
  for (const seg of parseTemplate(s)) if (seg.kind === 'param') values.push(seg.name);
  return { text: values.length ? null : s, values, splice: false };
}

/**
 * The arrays of strings in a JSON body, as argv words (`"Cmd": ["sh", "-c", "…", "sh", "{name}"]`):
 * the caller runs the table of programs that evaluate arguments as code over each, as over a
 * command template. An array whose first word is no known program is harmless to analyse.
 */
export function bodyArgvs(c: CompiledEndpoint): ArgWord[][] {
  const t = bodyTree(c.body);
  if (!t) return [];
  const out: ArgWord[][] = [];
  const walk = (v: Json): void => {
    if (Array.isArray(v)) {
      if (v.length && v.every((x) => typeof x === 'string')) out.push((v as string[]).map((x) => argWord(x, t.names)));
      else v.forEach(walk);
    } else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(t.tree);
  return out;
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

export type RenderedUpload = { kind: 'file'; path: string; maxBytes: number } | { kind: 'archive'; files: ArchiveFile[] };

export interface RenderedRequest {
  method: HttpMethod;
  url: URL;
  headers: Record<string, string>;
  body?: string;
  upload?: RenderedUpload;
  archiveMember?: string;
  socketPath?: string;
}

function renderUpload(u: UploadTemplate, scope: Scope, where: string): RenderedUpload {
  if (u.kind === 'file') return { kind: 'file', path: checkBodyPath(requireValue(scope, u.param, where), u.param, where), maxBytes: u.maxBytes };
  return { kind: 'archive', files: u.files.map((f) => ({ name: f.name, content: renderSegments(f.content, scope, where), mode: f.mode })) };
}

export function renderEndpoint(c: CompiledEndpoint, scope: Scope, where: string): RenderedRequest {
  const headers: Record<string, string> = {};
  for (const h of c.headers) {
    const v = renderSegments(h.value, scope, where);
    if (/[\r\n\0]/.test(v)) throw validationError(`${where}: the value of header '${h.name}' would contain a line break or NUL`, { header: h.name });
    headers[h.name] = v;
  }
  const req: RenderedRequest = { method: c.method, url: renderUrl(c.url, scope, where), headers };
  if (c.body) req.body = renderBody(c.body, scope, where);
  if (c.upload) req.upload = renderUpload(c.upload, scope, where);
  if ((c.body || c.upload) && c.contentType) headers['Content-Type'] = c.contentType;
  if (c.archiveMember !== undefined) req.archiveMember = c.archiveMember;
  if (c.socket) {
    const p = renderSegments(c.socket, scope, where);
    if (!p.startsWith('/') || p.includes('\0')) throw validationError(`${where}: unix_socket must be an absolute path`);
    req.socketPath = p;
  }
  return req;
}
