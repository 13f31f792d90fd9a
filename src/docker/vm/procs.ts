/**
 * A container's processes as the Docker host sees them, read from /proc (what any user may read
 * there): no engine round trip, no `ps`. Only where the CPI runs on the engine's host.
 */
import * as fs from 'node:fs';

export interface Proc {
  pid: number;
  ppid: number;
  args: string[];
}

/** A process's parent (the field after the command name in /proc/<pid>/stat); undefined once it exited. */
function parentOf(pid: number | string): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function readProc(pid: number): Proc | undefined {
  const ppid = parentOf(pid);
  try {
    const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').filter(Boolean);
    return ppid === undefined ? undefined : { pid, ppid, args };
  } catch {
    return undefined; // exited meanwhile
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

/** Every process's parent, from /proc/<pid>/stat (readable by any user). */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return out;
  }
  for (const e of entries) {
    const ppid = parentOf(e);
    if (ppid !== undefined) out.set(Number(e), ppid);
  }
  return out;
}

/**
 * A process's children from /proc/<pid>/task/<tid>/children (a few reads, not one per process
 * on the host); undefined where the kernel has no such files (CONFIG_PROC_CHILDREN).
 */
function childrenOf(pid: number): number[] | undefined {
  let tasks: string[];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return []; // exited meanwhile
  }
  const out: number[] = [];
  for (const t of tasks) {
    try {
      out.push(...fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && fs.existsSync(`/proc/${pid}/task/${t}`)) return undefined;
    }
  }
  return out;
}

/** Every process's children, from each one's parent in /proc/<pid>/stat (one read per process). */
function childrenByScan(): (pid: number) => number[] {
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of parents()) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  return (pid) => children.get(pid) ?? [];
}

/**
 * The processes of container `id` that descend from its PID 1 (host pid `pid1`): the init and
 * everything it started, jobs included; undefined when this /proc is not the Docker host's (a
 * CPI in a container of its own sees other processes under those numbers).
 */
export function containerProcs(id: string, pid1: number): Proc[] | undefined {
  if (!(pid1 > 0) || !inContainer(pid1, id)) return undefined;
  const children = childrenOf(pid1) === undefined ? childrenByScan() : (pid: number) => childrenOf(pid) ?? [];
  const tree: number[] = [];
  for (const queue = [pid1]; queue.length; ) {
    const pid = queue.shift() as number;
    tree.push(pid);
    queue.push(...children(pid));
  }
  return tree.map(readProc).filter((p): p is Proc => !!p);
}

/** Whether a command line is Docker's init (docker-init, tini), which runs the real PID 1 as its child. */
export function isForwardingInit(args: string[] | undefined): boolean {
  return !!args?.[0] && /(^|\/)(docker-init|tini)$/.test(args[0]);
}
