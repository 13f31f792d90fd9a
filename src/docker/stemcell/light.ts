/**
 * Light stemcells (format docker-light): cloud_properties.image_reference names an image the
 * engine has or can pull. The CID pins the image by digest; with
 * light_stemcell.require_image_verification (the default) the stemcell must name the digest and
 * the image must match it.
 */
import type { CloudProperties } from '../../cpi/schemas';
import { CloudError } from '../../rpc/errors';
import type { DockerContext } from '../context';
import type { ImageInspect } from '../engine/types';
import { pullImage } from './pull';
import { inspectImage } from './resolve';

function digestOf(cp: CloudProperties, ref: string): string | undefined {
  const d = cp['digest'];
  if (typeof d === 'string' && d) return d.includes(':') ? d : `sha256:${d}`;
  const at = ref.indexOf('@');
  return at >= 0 ? ref.slice(at + 1) : undefined;
}

function repoOf(ref: string): string {
  const at = ref.indexOf('@');
  const noDigest = at >= 0 ? ref.slice(0, at) : ref;
  // Strip a tag, not a registry port: the tag is after the last slash.
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

/** The digest pinning this image: a registry digest, or the image ID for images built locally. */
function matches(image: ImageInspect, digest: string): string | undefined {
  const byRepoDigest = (image.RepoDigests ?? []).find((rd) => rd.endsWith(`@${digest}`));
  if (byRepoDigest) return byRepoDigest;
  if (image.Id === digest) return image.Id;
  return undefined;
}

export function isLightStemcell(cp: CloudProperties): boolean {
  return typeof cp['image_reference'] === 'string';
}

export async function importLightStemcell(ctx: DockerContext, cp: CloudProperties): Promise<string> {
  const ref = cp['image_reference'] as string;
  if (ctx.config.light_stemcell.disable_light_stemcells) {
    throw new CloudError(`light stemcell ${ref}: light stemcells are disabled (light_stemcell.disable_light_stemcells)`);
  }
  if (!ref.trim()) throw new CloudError('light stemcell: cloud_properties.image_reference is empty');
  const digest = digestOf(cp, ref);
  const verify = ctx.config.light_stemcell.require_image_verification;
  if (verify && !digest) {
    throw new CloudError(
      `light stemcell ${ref}: no digest to verify the image against (give image_reference as repo@sha256:… or cloud_properties.digest, or set light_stemcell.require_image_verification: false)`,
    );
  }

  let image = await inspectImage(ctx, ref);
  if (!image) {
    ctx.log.info('pulling light stemcell image', { ref });
    try {
      await pullImage(ctx, ref);
    } catch (e) {
      throw new CloudError(`light stemcell ${ref}: the image is not on the engine and pulling it failed: ${(e as Error).message}`, { okToRetry: true });
    }
    image = await inspectImage(ctx, ref);
    if (!image) throw new CloudError(`light stemcell ${ref}: the image is still missing after the pull`);
  }

  if (digest) {
    const pinned = matches(image, digest);
    if (pinned) return pinned;
    if (verify) {
      throw new CloudError(`light stemcell ${ref}: the image does not match digest ${digest} (image ${image.Id}, repo digests ${(image.RepoDigests ?? []).join(', ') || 'none'})`);
    }
  }
  // Unverified: pin what the engine has now.
  const repoDigest = (image.RepoDigests ?? []).find((rd) => rd.startsWith(`${repoOf(ref)}@`)) ?? image.RepoDigests?.[0];
  return repoDigest ?? image.Id;
}
