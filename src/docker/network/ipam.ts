/** Address arithmetic for IPv4 and IPv6 (BigInt), enough to derive subnets from BOSH network specs. */
import { isIP } from 'node:net';

export interface Subnet {
  /** e.g. 10.244.0.0/24 */
  cidr: string;
  family: 4 | 6;
  prefix: number;
  network: bigint;
}

function parseV6(ip: string): bigint {
  let [head, tail] = ip.includes('::') ? (ip.split('::') as [string, string]) : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail ? tail.split(':') : [];
  // An embedded IPv4 tail (::ffff:1.2.3.4) counts as two groups.
  const last = (tail !== undefined ? t : h).at(-1);
  if (last && last.includes('.')) {
    const v4 = toBigInt(last, 4);
    const groups = [(v4 >> 16n).toString(16), (v4 & 0xffffn).toString(16)];
    if (tail !== undefined) t.splice(-1, 1, ...groups);
    else h.splice(-1, 1, ...groups);
  }
  const fill = tail !== undefined ? 8 - h.length - t.length : 0;
  const groups = [...h, ...Array<string>(fill).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) + BigInt(parseInt(g || '0', 16)), 0n);
}

export function toBigInt(ip: string, family: 4 | 6): bigint {
  if (family === 4) return ip.split('.').reduce((acc, o) => (acc << 8n) + BigInt(Number(o)), 0n);
  return parseV6(ip);
}

export function fromBigInt(n: bigint, family: 4 | 6): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => ((n >> s) & 0xffn).toString()).join('.');
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((n >> BigInt(i * 16)) & 0xffffn).toString(16));
  // Compress the longest run of zero groups.
  let best = [-1, 0];
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > (best[1] as number) && j - i > 1) best = [i, j - i];
    i = j;
  }
  if ((best[0] as number) < 0) return groups.join(':');
  const [i, len] = best as [number, number];
  return `${groups.slice(0, i).join(':')}::${groups.slice(i + len).join(':')}`;
}

export function familyOf(ip: string): 4 | 6 | 0 {
  return isIP(ip) as 4 | 6 | 0;
}

/** Prefix length from a netmask ("255.255.255.0" → 24) or a number/string prefix. */
export function prefixOf(netmask: string | number | null | undefined, family: 4 | 6): number | undefined {
  if (netmask === null || netmask === undefined || netmask === '') return undefined;
  if (typeof netmask === 'number' || /^\d+$/.test(netmask)) {
    const p = Number(netmask);
    if (p < 0 || p > (family === 4 ? 32 : 128)) throw new Error(`prefix ${p} is out of range`);
    return p;
  }
  if (familyOf(netmask) !== family) throw new Error(`netmask ${netmask} is not an IPv${family} mask`);
  const bits = family === 4 ? 32 : 128;
  const n = toBigInt(netmask, family);
  let p = 0;
  while (p < bits && ((n >> BigInt(bits - 1 - p)) & 1n) === 1n) p++;
  const rebuilt = p === 0 ? 0n : ((1n << BigInt(p)) - 1n) << BigInt(bits - p);
  if (rebuilt !== n) throw new Error(`netmask ${netmask} is not contiguous`);
  return p;
}

export function netmaskOf(prefix: number, family: 4 | 6): string {
  const bits = family === 4 ? 32 : 128;
  const n = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
  return fromBigInt(n, family);
}

export function subnetOf(ip: string, prefix: number): Subnet {
  const family = familyOf(ip);
  if (!family) throw new Error(`'${ip}' is not an IP address`);
  const bits = family === 4 ? 32 : 128;
  const mask = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
  const network = toBigInt(ip, family) & mask;
  return { cidr: `${fromBigInt(network, family)}/${prefix}`, family, prefix, network };
}

export function parseCidr(cidr: string): Subnet {
  const [ip, p] = cidr.split('/');
  const family = familyOf(ip ?? '');
  if (!ip || !family || p === undefined || !/^\d+$/.test(p)) throw new Error(`'${cidr}' is not a CIDR range`);
  return subnetOf(ip, prefixOf(p, family) as number);
}

export function contains(subnet: Subnet, ip: string): boolean {
  const family = familyOf(ip);
  if (family !== subnet.family) return false;
  return subnetOf(ip, subnet.prefix).network === subnet.network;
}

/** Two ranges overlap when one holds the other's first address. */
export function overlaps(a: Subnet, b: Subnet): boolean {
  return a.family === b.family && (contains(a, fromBigInt(b.network, b.family)) || contains(b, fromBigInt(a.network, a.family)));
}
