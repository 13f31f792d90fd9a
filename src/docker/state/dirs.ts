/**
 * The CPI's local records, under the state dir, keyed by the engine they belong to:
 *
 *   engines/<engine id>/vms/<vm cid>/     settings.json, metadata.json, disks/, ephemeral/, recreate.json (journal)
 *   engines/<engine id>/creating/<cid>    a create_vm in progress (its process, the networks it made)
 *   engines/<engine id>/disks/<cid>.json  set_disk_metadata's record
 *   locks/                                per-VM and per-disk locks (CIDs are unique across engines)
 *   vms/<vm cid>/                         the layout before engine keys; still read for its VMs
 *
 * One CPI may drive several engines (AZs through the cpi-config): a sweep of abandoned creates or
 * a delete_vm against one engine must never touch what belongs to another. The engine's own
 * records (labels, the settings file a container reads) are the truth; these are a cache, kept
 * where a call cannot ask the engine (what a killed create_vm made).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isDockerName } from '../cids';

/** An engine ID as a directory name (Docker 20.10's look like ABCD:EFGH:…, newer ones are UUIDs). */
export function engineKey(engineId: string): string {
  const key = engineId.replace(/[^A-Za-z0-9_.-]/g, '_');
  if (!key || key === '.' || key === '..') throw new Error(`unusable engine ID ${JSON.stringify(engineId)}`);
  return key;
}

function checkedCid(cid: string): string {
  // CIDs arrive from callers: only names that are also safe file names get a directory.
  if (!isDockerName(cid)) throw new Error(`not a valid CID for a state directory: ${JSON.stringify(cid)}`);
  return cid;
}

/** The kernel's start time of a process (clock ticks since boot): a PID plus this names one process for good. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export class EngineIdentityClash extends Error {
  constructor(engineId: string, where: string, seen: EngineIdentity, known: EngineIdentity, file: string) {
    super(
      `two Docker engines report the same ID ${engineId}: the one at ${where} (host ${seen.name}, data root ${seen.root}) and the one recorded in ${file} (host ${known.name}, data root ${known.root}). ` +
        'The CPI keeps each engine\'s records under its ID, so theirs would mix: give each engine an identity of its own (Docker 20.10: a new /etc/docker/key.json; Docker 23 and later: a new /var/lib/docker/engine-id) and restart it. ' +
        `If this is the same engine after a rename or a moved data root, remove ${file}.`,
    );
  }
}

interface CreatingMarker {
  pid?: number | null;
  pid_start?: string;
  networks?: unknown;
}

/** What tells two engines apart besides their ID (which clones of one machine image can share). */
export interface EngineIdentity {
  name: string;
  root: string;
}

export class StateDirs {
  constructor(readonly root: string) {}

  /**
   * Records (once) which engine an ID stands for, and refuses a second engine reporting the same
   * ID: its records would mix with the first one's, and sweeps would act on the wrong engine.
   */
  checkIdentity(engineId: string, seen: EngineIdentity, where: string): void {
    const file = path.join(this.engineDir(engineId), 'identity.json');
    let known: EngineIdentity | undefined;
    try {
      known = JSON.parse(fs.readFileSync(file, 'utf8')) as EngineIdentity;
    } catch {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      fs.writeFileSync(file, JSON.stringify(seen), { mode: 0o600 });
      return;
    }
    if (known.name === seen.name && known.root === seen.root) return;
    throw new EngineIdentityClash(engineId, where, seen, known, file);
  }

  /** The records of every engine this CPI has used, one directory each. */
  enginesRoot(): string {
    return path.join(this.root, 'engines');
  }

  engineDir(engineId: string): string {
    return path.join(this.enginesRoot(), engineKey(engineId));
  }

  vmDir(engineId: string, vmCid: string): string {
    return path.join(this.engineDir(engineId), 'vms', checkedCid(vmCid));
  }

  /** Where VMs lived before records were keyed by engine. */
  legacyVmDir(vmCid: string): string {
    return path.join(this.root, 'vms', checkedCid(vmCid));
  }

  diskMetadataFile(engineId: string, diskCid: string): string {
    return path.join(this.engineDir(engineId), 'disks', `${checkedCid(diskCid)}.json`);
  }

  journalFile(engineId: string, vmCid: string): string {
    return path.join(this.vmDir(engineId, vmCid), 'recreate.json');
  }

  /** Engines with a recreate journal for `vmCid` (has_vm asks before it says a VM is gone). */
  journalEngines(vmCid: string): string[] {
    if (!isDockerName(vmCid)) return [];
    let keys: string[];
    try {
      keys = fs.readdirSync(path.join(this.root, 'engines'));
    } catch {
      return [];
    }
    return keys.filter((k) => fs.existsSync(path.join(this.root, 'engines', k, 'vms', vmCid, 'recreate.json')));
  }

  createVmDir(engineId: string, vmCid: string): string {
    const dir = this.vmDir(engineId, vmCid);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  private markerFile(engineId: string, vmCid: string): string {
    return path.join(this.engineDir(engineId), 'creating', checkedCid(vmCid));
  }

  /** Whether any engine has create_vm markers: most calls need not ask the engine its ID to sweep. */
  anyCreating(): boolean {
    try {
      return fs.readdirSync(path.join(this.root, 'engines')).some((k) => fs.existsSync(path.join(this.root, 'engines', k, 'creating')) && fs.readdirSync(path.join(this.root, 'engines', k, 'creating')).length > 0);
    } catch {
      return false;
    }
  }

  /**
   * Marks a VM as being created by this process, with the networks it created so far: if the
   * process dies, a later call against the same engine removes what it left.
   */
  markCreating(engineId: string, vmCid: string, networks: string[] = []): void {
    const marker: CreatingMarker = { pid: process.pid, pid_start: processStart(process.pid), networks };
    fs.mkdirSync(path.dirname(this.markerFile(engineId, vmCid)), { recursive: true, mode: 0o700 });
    fs.writeFileSync(this.markerFile(engineId, vmCid), JSON.stringify({ ...marker, started: new Date().toISOString() }), { mode: 0o600 });
  }

  private readMarker(engineId: string, vmCid: string): CreatingMarker | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.markerFile(engineId, vmCid), 'utf8')) as CreatingMarker;
    } catch {
      return undefined;
    }
  }

  /** The networks an abandoned create_vm had created. */
  createdNetworks(engineId: string, vmCid: string): string[] {
    const n = this.readMarker(engineId, vmCid)?.networks;
    return Array.isArray(n) ? n.filter((x): x is string => typeof x === 'string') : [];
  }

  /** The creating process gave up with remains it could not remove. */
  markAbandoned(engineId: string, vmCid: string): void {
    const m = this.readMarker(engineId, vmCid);
    if (m) fs.writeFileSync(this.markerFile(engineId, vmCid), JSON.stringify({ ...m, pid: null, abandoned: new Date().toISOString() }), { mode: 0o600 });
  }

  markCreated(engineId: string, vmCid: string): void {
    fs.rmSync(this.markerFile(engineId, vmCid), { force: true });
  }

  /** VMs on this engine whose create_vm process died part-way (killed, or the machine went down). */
  abandonedCreates(engineId: string): string[] {
    let names: string[];
    try {
      names = fs.readdirSync(path.join(this.engineDir(engineId), 'creating'));
    } catch {
      return [];
    }
    return names.filter((cid) => {
      const m = this.readMarker(engineId, cid);
      if (!m) return false;
      if (typeof m.pid !== 'number') return true;
      // Alive is the same PID started at the same moment; a reused PID is another process.
      const start = processStart(m.pid);
      return start === undefined || (m.pid_start !== undefined && start !== m.pid_start);
    });
  }

  /** The VM's records and its creating marker. */
  removeVmDir(engineId: string, vmCid: string): void {
    if (!isDockerName(vmCid)) return;
    fs.rmSync(this.vmDir(engineId, vmCid), { recursive: true, force: true });
    this.markCreated(engineId, vmCid);
  }
}
