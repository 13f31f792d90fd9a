/**
 * A container's processes as the Docker host sees them, read from /proc: no engine round trip,
 * no `ps`. Only where the CPI runs on the engine's host and may read /proc.
 */
import * as fs from 'node:fs';

export interface Proc {
  pid: number;
  ppid: number;
  args: string[];
}

function readProc(pid: number): Proc | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').filter(Boolean);
    return { pid, ppid, args };
  } catch {
    return undefined; // exited meanwhile
  }
}

function pidNamespace(pid: number | string): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

/** Whether host pid `pid` is in container `id`'s cgroup: this /proc is the Docker host's. */
function inContainer(pid: number, id: string): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(id);
  } catch {
    return false;
  }
}

/**
 * Every process of container `id`, whose PID 1 is host pid `pid1` (those in its PID namespace,
 * whatever cgroups systemd made inside); undefined when this /proc is not the Docker host's
 * (a CPI in a container of its own sees other processes under those numbers).
 */
export function containerProcs(id: string, pid1: number): Proc[] | undefined {
  const ns = pid1 > 0 && inContainer(pid1, id) ? pidNamespace(pid1) : undefined;
  if (!ns) return undefined;
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return undefined;
  }
  return entries
    .filter((e) => pidNamespace(e) === ns)
    .map((e) => readProc(Number(e)))
    .filter((p): p is Proc => !!p);
}

/** Whether a command line is Docker's init (docker-init, tini), which runs the real PID 1 as its child. */
export function isForwardingInit(args: string[] | undefined): boolean {
  return !!args?.[0] && /(^|\/)(docker-init|tini)$/.test(args[0]);
}
