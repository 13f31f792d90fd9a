/**
 * Reads the request: all of STDIN to EOF (the Director closes STDIN after writing and sends no
 * trailing newline), refusing more than a bound without holding it all in memory twice.
 */
import * as fs from 'node:fs';
import { CpiError } from './errors';

const MAX_REQUEST_BYTES = 16 * 1024 * 1024;
const CHUNK = 64 * 1024;

function tooLarge(limit: number): CpiError {
  return new CpiError(`request is larger than ${Math.round(limit / (1024 * 1024))} MiB; refusing to read it`);
}

/** Synchronous reads are cheapest for the usual blocking pipe; a non-blocking STDIN falls back to events. */
export async function readRequestText(limit = MAX_REQUEST_BYTES, fd = 0): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buf = Buffer.allocUnsafe(CHUNK);
    let n: number;
    try {
      n = fs.readSync(fd, buf, 0, CHUNK, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') return readAsync(chunks, total, limit);
      if (code === 'EOF') break;
      throw new CpiError(`cannot read the request from STDIN (${code ?? String(e)})`);
    }
    if (n === 0) break;
    total += n;
    if (total > limit) throw tooLarge(limit);
    chunks.push(n === CHUNK ? buf : buf.subarray(0, n));
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

function readAsync(chunks: Buffer[], total: number, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    stdin.on('data', (c: Buffer) => {
      total += c.length;
      if (total > limit) {
        stdin.destroy();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(c);
    });
    stdin.on('end', () => resolve(Buffer.concat(chunks, total).toString('utf8')));
    stdin.on('error', (e) => reject(new CpiError(`cannot read the request from STDIN (${e.message})`)));
  });
}
