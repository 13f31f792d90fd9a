/**
 * The `ports` cloud property. Accepted forms:
 *   6868, "6868", "6868/tcp"           exposed; published on a random host port (the Go CPI's
 *                                       PublishAllPorts behaviour)
 *   "26868:6868/tcp"                   published on host port 26868, all interfaces
 *   "127.0.0.1:6868:6868/tcp"          published on 127.0.0.1 only (create-env's mbus on loopback)
 *   "127.0.0.1::6868"                  a random port on 127.0.0.1
 *   "2000-2002:1000-1002/udp"          ranges of equal length
 *   {host: 6868, container: 6868, protocol: tcp, host_ip: 127.0.0.1}   the warden CPI's form
 */
export type Protocol = 'tcp' | 'udp' | 'sctp';

export interface PortSpec {
  container: number;
  protocol: Protocol;
  /** Absent: exposed only, published at random by PublishAllPorts. */
  binding?: { hostIp: string; hostPort: number | undefined };
}

const PROTOCOLS = new Set(['tcp', 'udp', 'sctp']);

function port(s: string, what: string): number {
  if (!/^\d+$/.test(s)) throw new Error(`${what} '${s}' is not a port number`);
  const n = Number(s);
  if (n < 1 || n > 65535) throw new Error(`${what} ${n} is outside 1-65535`);
  return n;
}

function range(s: string, what: string): number[] {
  const m = /^(\d+)-(\d+)$/.exec(s);
  if (!m) return [port(s, what)];
  const a = port(m[1] as string, what);
  const b = port(m[2] as string, what);
  if (b < a) throw new Error(`${what} range ${s} is reversed`);
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

function protocol(p: string | undefined): Protocol {
  const v = (p ?? 'tcp').toLowerCase();
  if (!PROTOCOLS.has(v)) throw new Error(`protocol '${p}' is not tcp, udp or sctp`);
  return v as Protocol;
}

function pair(containers: number[], hosts: Array<number | undefined>, proto: Protocol, hostIp: string): PortSpec[] {
  const random = hosts[0] === undefined;
  if (!random && hosts.length !== containers.length) throw new Error('host and container port ranges differ in length');
  return containers.map((c, i) => ({ container: c, protocol: proto, binding: { hostIp, hostPort: random ? undefined : hosts[i] } }));
}

function parseString(spec: string): PortSpec[] {
  const [main, proto, extra] = spec.trim().split('/');
  if (extra !== undefined || !main) throw new Error(`'${spec}' is not a port`);
  const p = protocol(proto);
  // [hostIp:][hostPort:]containerPort, hostIp possibly [v6].
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|\d{1,3}(?:\.\d{1,3}){3}):)?(?:([\d-]*):)?([\d-]+)$/.exec(main);
  if (!m) throw new Error(`'${spec}' is not a port (e.g. "6868/tcp" or "127.0.0.1:6868:6868/tcp")`);
  const [, ip, host, container] = m;
  const containers = range(container as string, 'container port');
  if (ip === undefined && host === undefined) return containers.map((c) => ({ container: c, protocol: p }));
  const hostIp = (ip ?? '').replace(/^\[|\]$/g, '');
  const hosts = host ? range(host, 'host port') : [undefined];
  return pair(containers, hosts, p, hostIp);
}

function parseObject(o: Record<string, unknown>): PortSpec[] {
  const host = o['host'];
  const container = o['container'] ?? host;
  if (host === undefined && container === undefined) throw new Error(`${JSON.stringify(o)} needs host or container`);
  const p = protocol(typeof o['protocol'] === 'string' ? o['protocol'] : undefined);
  const containers = range(String(container), 'container port');
  const hostIp = typeof o['host_ip'] === 'string' ? o['host_ip'] : '';
  if (host === undefined) return containers.map((c) => ({ container: c, protocol: p }));
  return pair(containers, range(String(host), 'host port'), p, hostIp);
}

export function parsePorts(specs: readonly unknown[]): PortSpec[] {
  return specs.flatMap((s) => {
    if (typeof s === 'number') return [{ container: port(String(s), 'port'), protocol: 'tcp' as const }];
    if (typeof s === 'string') return parseString(s);
    if (s && typeof s === 'object') return parseObject(s as Record<string, unknown>);
    throw new Error(`${JSON.stringify(s)} is not a port`);
  });
}

/** ExposedPorts, PortBindings and PublishAllPorts for the container. */
export function portConfig(specs: readonly PortSpec[]): {
  ExposedPorts: Record<string, Record<string, never>>;
  PortBindings: Record<string, Array<{ HostIp: string; HostPort: string }>>;
  PublishAllPorts: boolean;
} {
  const ExposedPorts: Record<string, Record<string, never>> = {};
  const PortBindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  let PublishAllPorts = false;
  for (const s of specs) {
    const key = `${s.container}/${s.protocol}`;
    ExposedPorts[key] = {};
    if (!s.binding) PublishAllPorts = true;
    else (PortBindings[key] ??= []).push({ HostIp: s.binding.hostIp, HostPort: s.binding.hostPort === undefined ? '' : String(s.binding.hostPort) });
  }
  return { ExposedPorts, PortBindings, PublishAllPorts };
}
