/**
 * Per-VM directories under the state dir, on the Docker host: the agent settings file that is
 * bind-mounted into the container, the metadata set by set_vm_metadata, and (for persistent
 * disks) the mount points shared into the container.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isDockerName } from '../cids';

export class StateDirs {
  constructor(readonly root: string) {}

  vmDir(vmCid: string): string {
    // CIDs arrive from callers: only names that are also safe file names get a directory.
    if (!isDockerName(vmCid)) throw new Error(`not a valid VM CID for a state directory: ${JSON.stringify(vmCid)}`);
    return path.join(this.root, 'vms', vmCid);
  }

  settingsFile(vmCid: string): string {
    return path.join(this.vmDir(vmCid), 'settings.json');
  }

  metadataFile(vmCid: string): string {
    return path.join(this.vmDir(vmCid), 'metadata.json');
  }

  createVmDir(vmCid: string): string {
    const dir = this.vmDir(vmCid);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  /**
   * Marks a VM as being created by this process, with the networks it created so far: if the
   * process dies, a later call removes what it left.
   */
  markCreating(vmCid: string, networks: string[] = []): void {
    fs.writeFileSync(path.join(this.vmDir(vmCid), 'creating'), JSON.stringify({ pid: process.pid, started: new Date().toISOString(), networks }), { mode: 0o600 });
  }

  /** The networks an abandoned create_vm had created. */
  createdNetworks(vmCid: string): string[] {
    try {
      const m = JSON.parse(fs.readFileSync(path.join(this.vmDir(vmCid), 'creating'), 'utf8')) as { networks?: unknown };
      return Array.isArray(m.networks) ? m.networks.filter((n): n is string => typeof n === 'string') : [];
    } catch {
      return [];
    }
  }

  /** The creating process gave up with remains it could not remove. */
  markAbandoned(vmCid: string): void {
    const file = path.join(this.vmDir(vmCid), 'creating');
    try {
      const m = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
      fs.writeFileSync(file, JSON.stringify({ ...m, pid: null, abandoned: new Date().toISOString() }), { mode: 0o600 });
    } catch {
      /* no marker: nothing to hand over */
    }
  }

  markCreated(vmCid: string): void {
    fs.rmSync(path.join(this.vmDir(vmCid), 'creating'), { force: true });
  }

  /** VMs whose create_vm process died part-way (killed, or the machine went down). */
  abandonedCreates(): string[] {
    const vms = path.join(this.root, 'vms');
    let names: string[];
    try {
      names = fs.readdirSync(vms);
    } catch {
      return [];
    }
    return names.filter((cid) => {
      let marker: { pid?: number };
      try {
        marker = JSON.parse(fs.readFileSync(path.join(vms, cid, 'creating'), 'utf8')) as { pid?: number };
      } catch {
        return false;
      }
      if (typeof marker.pid !== 'number') return true;
      try {
        process.kill(marker.pid, 0);
        return false; // still running (or its pid reused: leave it, never guess)
      } catch (e) {
        return (e as NodeJS.ErrnoException).code === 'ESRCH';
      }
    });
  }

  removeVmDir(vmCid: string): void {
    if (!isDockerName(vmCid)) return;
    fs.rmSync(this.vmDir(vmCid), { recursive: true, force: true });
  }
}
