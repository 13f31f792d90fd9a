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

export interface HelperSpec {
  image: string;
  cmd: string[];
  mounts: Array<Record<string, unknown>>;
  capAdd?: string[];
  labels: Record<string, string>;
}

/** Splits the engine's multiplexed stdout/stderr frames (8-byte headers) into text. */
function demux(buf: Buffer): string {
  let out = '';
  for (let i = 0; i + 8 <= buf.length; ) {
    const size = buf.readUInt32BE(i + 4);
    out += buf.subarray(i + 8, i + 8 + size).toString('utf8');
    i += 8 + size;
  }
  return out;
}

/**
 * Runs a short-lived helper container to completion and removes it: mounts on a Docker host the
 * CPI cannot reach itself. Returns the exit code and the combined output.
 */
export async function runHelper(ctx: DockerContext, spec: HelperSpec): Promise<{ code: number; output: string }> {
  const docker = await dockerode(ctx);
  const container = await docker.createContainer({
    Image: spec.image,
    Entrypoint: [],
    Cmd: spec.cmd,
    Labels: spec.labels,
    NetworkDisabled: true,
    HostConfig: {
      Mounts: spec.mounts as never,
      CapAdd: spec.capAdd,
      SecurityOpt: ['apparmor=unconfined'],
      NetworkMode: 'none',
    },
  });
  try {
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    const logs = (await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    return { code: StatusCode, output: demux(Buffer.isBuffer(logs) ? logs : Buffer.from(String(logs))).trim() };
  } finally {
    await container.remove({ force: true, v: true }).catch(() => undefined);
  }
}
