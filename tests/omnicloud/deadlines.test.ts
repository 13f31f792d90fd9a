/**
 * Hard deadlines with real processes: a descendant that leaves the process group and keeps the
 * pipe open, one that ignores SIGTERM, a leader that exits while its daemon holds stdout, and one
 * deadline across hooks — each returns TimeoutError on time and leaves no process behind.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runProcess, taggedProcesses } from '../../src/omnicloud/exec/process';
import { alive, engine, failure, provider, single, tmpDir } from './helpers';

const dir = tmpDir('omni-deadlines-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const pidfile = (name: string) => path.join(dir, `${name}.pid`);
const pidsIn = (file: string) => fs.readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);

async function waitFor(file: string): Promise<void> {
  for (let i = 0; i < 100 && !fs.existsSync(file); i++) await new Promise((r) => setTimeout(r, 20));
}

describe('deadlines', () => {
  it('a descendant that left the group (setsid) and holds the pipe: TimeoutError at the deadline, nothing survives', async () => {
    const f = pidfile('setsid');
    const p = single({ command: `sh -c 'setsid sleep 1000 & echo $! > "$1"; wait' sh {f}`, params: ['f'], timeout_seconds: 0.5 });
    const started = Date.now();
    const err = await failure(engine([p]).run('t', 'a', { f }));
    const took = Date.now() - started;
    expect(err.code).toBe('TimeoutError');
    expect(took).toBeGreaterThanOrEqual(450);
    expect(took).toBeLessThan(3000);
    for (const pid of pidsIn(f)) expect(alive(pid)).toBe(false);
  });

  it('a leader that exits while its daemon keeps stdout open is bounded by the deadline too', async () => {
    const f = pidfile('daemon');
    const p = single({ command: `sh -c 'setsid sh -c "sleep 1000" & echo $! > "$1"' sh {f}`, params: ['f'], timeout_seconds: 0.6 });
    const started = Date.now();
    const err = await failure(engine([p]).run('t', 'a', { f }));
    expect(err.code).toBe('TimeoutError');
    expect(Date.now() - started).toBeLessThan(3000);
    await waitFor(f);
    for (const pid of pidsIn(f)) expect(alive(pid)).toBe(false);
  });

  it('a process that ignores SIGTERM gets SIGKILL after the grace', async () => {
    const f = path.join(dir, 'stubborn.pid');
    const started = Date.now();
    const run = runProcess({
      file: '/bin/sh',
      args: ['-c', `trap '' TERM; setsid sh -c "trap '' TERM; sleep 1000" & echo $! > "$1"; echo $$ >> "$1"; while :; do sleep 1; done`, 'sh', f],
      env: { PATH: '/usr/bin:/bin' },
      timeoutMs: 400,
      killGraceMs: 500,
      maxStdoutBytes: 1024,
      maxStderrBytes: 1024,
    });
    await expect(run).rejects.toMatchObject({ code: 'TimeoutError' });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(850);
    expect(took).toBeLessThan(3000);
    for (const pid of pidsIn(f)) expect(alive(pid)).toBe(false);
  });

  it('one deadline covers the whole action: hooks and main together', async () => {
    const p = provider({
      name: 'h',
      type: 'command',
      actions: { a: { command: 'sleep 0.5', timeout_seconds: 0.8, pre_exec: ['sleep 0.5'] } },
    });
    const started = Date.now();
    const err = await failure(engine([p]).run('h', 'a', {}));
    expect(err.code).toBe('TimeoutError');
    expect(Date.now() - started).toBeLessThan(2500);
    // Each step alone fits: with a longer deadline the action succeeds.
    const ok = provider({ name: 'h', type: 'command', actions: { a: { command: 'sleep 0.3', timeout_seconds: 5, pre_exec: ['sleep 0.3'] } } });
    expect((await engine([ok]).run('h', 'a', {})).result).toBe('');
  });

  it('leaves no tagged process after a normal run', async () => {
    const r = await runProcess({ file: '/bin/sh', args: ['-c', 'echo "$OMNI_RUN"'], env: { PATH: '/usr/bin:/bin' }, timeoutMs: 5000, maxStdoutBytes: 1024, maxStderrBytes: 1024 });
    expect(r.stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);
    expect(taggedProcesses(r.stdout.trim())).toEqual([]);
  });
});
