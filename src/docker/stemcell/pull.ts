/** Pulling an image (light stemcells), following the engine's progress stream to its end. */
import type { DockerContext } from '../context';
import { readText } from '../engine/client';

/** The engine reports a failed pull inside a 200 stream: each line is a JSON progress message. */
export function pullError(progress: string): string | undefined {
  for (const line of progress.split('\n')) {
    if (!line.trim()) continue;
    try {
      const m = JSON.parse(line) as { error?: string; errorDetail?: { message?: string } };
      if (m.error || m.errorDetail) return m.errorDetail?.message ?? m.error;
    } catch {
      return `unreadable progress from the engine: ${line.slice(0, 200)}`;
    }
  }
  return undefined;
}

/** `repo[:tag]` or `repo@digest` → the pull API's fromImage and tag. */
function splitRef(ref: string): { fromImage: string; tag?: string } {
  const at = ref.indexOf('@');
  if (at >= 0) return { fromImage: ref.slice(0, at), tag: ref.slice(at + 1) };
  const colon = ref.lastIndexOf(':');
  return colon > ref.lastIndexOf('/') ? { fromImage: ref.slice(0, colon), tag: ref.slice(colon + 1) } : { fromImage: ref, tag: 'latest' };
}

export async function pullImage(ctx: DockerContext, ref: string): Promise<void> {
  const res = await ctx.engine.stream('POST', '/images/create', { query: splitRef(ref), kind: 'image' });
  const failed = pullError(await readText(res));
  if (failed) throw new Error(failed);
}
