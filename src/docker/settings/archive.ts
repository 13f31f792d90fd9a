/** Files in and out of a container through the engine's archive API (created or running containers). */
import { Readable } from 'node:stream';
import { loadChunk } from '../../runtime/chunks';
import type { DockerContext } from '../context';
import { isNotFound, seg } from '../engine/client';

function pack(entries: Array<{ name: string; content: Buffer; mode: number }>): Promise<Buffer> {
  const p = loadChunk('tar').pack();
  for (const e of entries) p.entry({ name: e.name, mode: e.mode, mtime: new Date() }, e.content);
  p.finalize();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    p.on('data', (c: unknown) => chunks.push(c as Buffer));
    p.on('end', () => resolve(Buffer.concat(chunks)));
    p.on('error', reject);
  });
}

function firstFileOfTar(stream: NodeJS.ReadableStream): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const x = loadChunk('tar').extract();
    let found: Buffer | undefined;
    x.on('entry', (header, body, next) => {
      const chunks: Buffer[] = [];
      body.on('data', (c: unknown) => chunks.push(c as Buffer));
      body.on('end', () => {
        if (!found && header.type === 'file') found = Buffer.concat(chunks);
        next();
      });
      body.resume();
    });
    x.on('finish', () => resolve(found));
    x.on('error', reject);
    stream.pipe(x);
  });
}

/** A file of the container, or undefined when it has none at `path`. */
export async function readContainerFile(ctx: DockerContext, containerId: string, path: string): Promise<Buffer | undefined> {
  try {
    const res = await ctx.engine.stream('GET', `/containers/${seg(containerId)}/archive`, { query: { path } });
    return await firstFileOfTar(res);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/** Writes files into the container; the engine creates missing parent directories. */
export async function writeContainerFiles(ctx: DockerContext, containerId: string, files: Array<{ path: string; content: Buffer; mode?: number }>): Promise<void> {
  // One tar at "/" with the full paths.
  const body = await pack(files.map((f) => ({ name: f.path.replace(/^\/+/, ''), content: f.content, mode: f.mode ?? 0o600 })));
  await ctx.engine.request('PUT', `/containers/${seg(containerId)}/archive`, {
    query: { path: '/' },
    body: Readable.from([body]),
    headers: { 'Content-Type': 'application/x-tar', 'Content-Length': String(body.length) },
  });
}
