/**
 * Request bodies that are not text, and a response that is an archive, for Endpoint targets:
 *
 * - `body_file`: a local file streamed as the body (an image import). The path comes from one
 *   parameter (load.ts refuses a manifest-settable one), must be absolute and normal (no `.`/`..`
 *   segment, no `//`), and must name a regular file — a symlink in the last component, a FIFO or a
 *   device is refused, so a value can neither point the upload elsewhere nor make it endless. The
 *   file is opened once and that descriptor streamed: its size at open time, capped by
 *   `max_body_bytes`, is what is sent, whatever happens to the path meanwhile.
 * - `body_archive`: a tar archive of named files built in memory (the Docker archive API);
 *   the names are literal in the provider file, only contents come from values.
 * - `response_archive_member`: the response body is a tar archive, and the text the parse rules
 *   read is one member's content.
 *
 * tar-stream is its own chunk (runtime/tar.ts), loaded only by the calls that use an archive.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { loadChunk } from '../../runtime/chunks';
import { providerError, validationError } from '../errors';

export interface ArchiveFile {
  name: string;
  content: string;
  mode: number;
}

export interface OpenedFile {
  fd: number;
  size: number;
}

/** Checks a body_file path as a value; throws ValidationError naming the placeholder. */
export function checkBodyPath(value: unknown, placeholder: string, where: string): string {
  if (typeof value !== 'string' || !path.isAbsolute(value) || value.includes('\0') || path.normalize(value) !== value || (value.length > 1 && value.endsWith('/'))) {
    throw validationError(`${where}: the value of {${placeholder}} must be an absolute, normal file path (no '.' or '..' segments) for body_file`, { placeholder });
  }
  return value;
}

/** Opens a body_file: a regular file (not through a final symlink), at most `maxBytes`. */
export function openBodyFile(file: string, maxBytes: number, where: string): OpenedFile {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below anyway.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'ELOOP' ? 'is a symbolic link' : `cannot be read (${code})`;
    throw validationError(`${where}: body_file ${file} ${why}`, { file });
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw validationError(`${where}: body_file ${file} is not a regular file`, { file });
    if (st.size > maxBytes) throw validationError(`${where}: body_file ${file} holds ${st.size} bytes, more than max_body_bytes (${maxBytes})`, { file, max_body_bytes: maxBytes });
    return { fd, size: st.size };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

export function closeBodyFile(f: OpenedFile): void {
  try {
    fs.closeSync(f.fd);
  } catch {
    /* already closed */
  }
}

/** The opened file as a stream of exactly its size at open time; closes the descriptor. */
export function fileStream(f: OpenedFile): Readable {
  if (f.size === 0) {
    fs.closeSync(f.fd);
    return Readable.from([]);
  }
  return fs.createReadStream('', { fd: f.fd, start: 0, end: f.size - 1, autoClose: true });
}

/** A tar archive of `files`, in memory (they are small: settings documents). */
export function packArchive(files: readonly ArchiveFile[]): Promise<Buffer> {
  const pack = loadChunk('tar').pack();
  for (const f of files) pack.entry({ name: f.name, mode: f.mode, mtime: new Date() }, Buffer.from(f.content, 'utf8'));
  pack.finalize();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', reject);
  });
}

/** The content of the file `member` of a tar archive; ProviderError when there is none. */
export function archiveMember(archive: Buffer, member: string, where: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const x = loadChunk('tar').extract();
    let found: Buffer | undefined;
    x.on('entry', (header, body, next) => {
      const name = header.name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
      const chunks: Buffer[] = [];
      body.on('data', (c: unknown) => chunks.push(c as Buffer));
      body.on('end', () => {
        if (found === undefined && header.type === 'file' && name === member) found = Buffer.concat(chunks);
        next();
      });
      body.resume();
    });
    x.on('finish', () => (found === undefined ? reject(providerError(`${where}: the response archive holds no file named ${member}`, { member })) : resolve(found.toString('utf8'))));
    x.on('error', (e: Error) => reject(providerError(`${where}: the response is not a tar archive: ${e.message}`, { member })));
    x.end(archive);
  });
}
