/** The persistent-disk chunk of the Docker backend: loaded by the disk methods only. */
export { attachDisk, detachDisk, getDisks, releaseDisks } from './attach';
export { createDisk, deleteDisk, hasDisk, resizeDisk, setDiskMetadata, updateDisk } from './disks';
export { deleteSnapshot, snapshotDisk } from './snapshots';
export { releaseVmMounts } from './vm-dir';
export { completeRecreate, readJournal } from './recreate';
export { releaseBlockVm } from './block';
export { remountRemote } from './remote';
