/**
 * STDOUT carries exactly one JSON response. Anything a library prints there (console.log,
 * process.stdout.write) goes to STDERR instead; the response is written directly to fd 1.
 */
import * as fs from 'node:fs';

export type ResponseWriter = (text: string) => void;

export function claimStdout(): ResponseWriter {
  // process.stdout is created on first access, which costs milliseconds; replacing the getter
  // instead of patching the stream keeps `info` fast and covers console.*, which looks the
  // stream up lazily too.
  Object.defineProperty(process, 'stdout', { configurable: true, enumerable: true, get: () => process.stderr });
  let written = false;
  return (text: string) => {
    if (written) return;
    written = true;
    writeAllSync(1, Buffer.from(text, 'utf8'));
  };
}

function writeAllSync(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue;
      if (code === 'EPIPE') return; // the caller went away; nothing left to tell it
      throw e;
    }
  }
}
