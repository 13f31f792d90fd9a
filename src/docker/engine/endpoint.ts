/** Where the Docker engine listens, parsed from the configured host URL. */
import type { DockerConfig } from '../../config/schema';

export type Endpoint =
  | { kind: 'unix'; socketPath: string; display: string }
  | { kind: 'tcp'; hostname: string; port: number; tls: boolean; display: string };

export function parseEndpoint(docker: Pick<DockerConfig, 'host' | 'tls'>): Endpoint {
  const host = docker.host;
  if (host.startsWith('unix://')) {
    const socketPath = host.slice('unix://'.length);
    return { kind: 'unix', socketPath, display: host };
  }
  const u = new URL(host.replace(/^tcp:\/\//, docker.tls ? 'https://' : 'http://'));
  const tls = u.protocol === 'https:';
  const port = u.port ? Number(u.port) : tls ? 2376 : 2375;
  return { kind: 'tcp', hostname: u.hostname.replace(/^\[|\]$/g, ''), port, tls, display: `${u.hostname}:${port}` };
}

/** Whether the engine runs on this machine, so host paths the CPI writes are the engine's too. */
export function isLocalEndpoint(e: Endpoint): boolean {
  if (e.kind === 'unix') return true;
  return e.hostname === 'localhost' || e.hostname === '::1' || /^127\./.test(e.hostname);
}
