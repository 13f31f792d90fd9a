/**
 * dockerode, for the long streaming operations where its helpers pay for its ~15 ms load: pulling
 * images (progress streams) and running helper containers to completion (demultiplexed output).
 * Imported only by the code paths that need it; it shares the lean client's connection settings
 * and negotiated API version.
 */
import Docker from 'dockerode';
import type { DockerContext } from '../context';

export async function dockerode(ctx: DockerContext): Promise<Docker> {
  const version = `v${await ctx.engine.apiVersion()}`;
  const e = ctx.engine.endpoint;
  if (e.kind === 'unix') return new Docker({ socketPath: e.socketPath, version });
  const tls = ctx.config.docker.tls;
  return new Docker({
    host: e.hostname,
    port: e.port,
    protocol: e.tls ? 'https' : 'http',
    version,
    ...(tls ? { ca: tls.ca, cert: tls.certificate, key: tls.private_key } : {}),
  });
}

/** Pulls an image, following the progress stream to its end; fails on an error in it. */
export async function pullImage(ctx: DockerContext, ref: string): Promise<void> {
  const docker = await dockerode(ctx);
  const stream = await docker.pull(ref);
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, output: Array<{ error?: string; errorDetail?: { message?: string } }>) => {
      const failed = output?.find((o) => o.error || o.errorDetail);
      if (err) reject(err);
      else if (failed) reject(new Error(failed.errorDetail?.message ?? failed.error));
      else resolve();
    });
  });
}
