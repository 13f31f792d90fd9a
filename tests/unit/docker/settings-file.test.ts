import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeInPlace } from '../../../src/docker/settings/file';

describe('settings file rewrite in place', () => {
  it('keeps the inode (the bind mount stays valid) and leaves valid JSON at every size', () => {
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'wip-')), 'settings.json');
    writeInPlace(f, JSON.stringify({ a: 'x'.repeat(100) }));
    const ino = fs.statSync(f).ino;
    writeInPlace(f, JSON.stringify({ b: 1 }));
    expect(fs.statSync(f).ino).toBe(ino);
    expect(JSON.parse(fs.readFileSync(f, 'utf8'))).toEqual({ b: 1 });
    expect(fs.statSync(f).size).toBe(JSON.stringify({ b: 1 }).length);
    expect(fs.statSync(f).mode & 0o777).toBe(0o600);
  });
});
