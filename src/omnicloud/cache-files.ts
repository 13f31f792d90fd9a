/** The engine's cache files (state_dir/omnicloud/cache): small JSON documents shared by concurrent CPI processes. */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A cache file's JSON, or undefined when it is missing or not JSON (the caller checks its shape). */
export function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Write-then-rename: a concurrent reader sees an old or a new file, never half of one. */
export function writeJson(file: string, value: unknown): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(value), { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch {
    /* a cache that cannot be written only costs time */
  }
}
