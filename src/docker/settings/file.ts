/**
 * Writes the settings file in place. It is bind-mounted into a running container: replacing it
 * by rename would leave the container looking at the old inode. One write of the whole document,
 * padded with spaces to at least the old length, then a truncate: a reader sees either the old
 * or the new JSON (trailing spaces are valid JSON), never an empty or torn file.
 */
import * as fs from 'node:fs';

export function writeInPlace(file: string, content: string): void {
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  try {
    const oldSize = fs.fstatSync(fd).size;
    const buf = Buffer.from(content, 'utf8');
    const padded = buf.length >= oldSize ? buf : Buffer.concat([buf, Buffer.alloc(oldSize - buf.length, 0x20)]);
    let off = 0;
    while (off < padded.length) off += fs.writeSync(fd, padded, off, padded.length - off, off);
    fs.ftruncateSync(fd, buf.length);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
