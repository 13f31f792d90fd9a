/**
 * bosh-agent v2.505.0's persistent-disk mounts, replayed inside a VM container: the same mount
 * and umount commands in the same order, each behind the same check of the mount listing the
 * agent makes first (platform/disk/linux_mounter.go shouldMount, IsMountPoint, IsMounted), read
 * the way the agent reads it in its mode (CI cannot fetch or build the agent itself):
 *
 * - `block` (BindMountPersistentDisk false): /proc/mounts, fields 1 and 2
 *   (proc_mounts_searcher.go), and plain `mount DEV DIR [-o OPT]`;
 * - `bind` (warden stemcells' own configuration): the `mount` command's listing, fields 1 and 3
 *   (cmd_mounts_searcher.go), and every mount with `-o bind` (linux_bind_mounter.go; its
 *   RemountAsReadonly does nothing).
 *
 * The sequences are linux_platform.go's MountPersistentDisk and MigratePersistentDisk with
 * UsePreformattedPersistentDisk (the device itself, no partition). Each function prints the
 * agent's own error message and fails where the agent would.
 */

/** POSIX sh (busybox's too): defines agent_mount_persistent and agent_migrate for $MODE. */
const FUNCTIONS = String.raw`
store=/var/vcap/store
migration=/var/vcap/store_migration_target
listing() {
  if [ "$MODE" = bind ]; then mount | awk '{ print $1 " " $3 }'; else awk '{ print $1 " " $2 }' /proc/mounts; fi
}
# MountFilesystem: shouldMount over the listing, then "mount PARTITION MOUNTPOINT -o OPT…".
agent_mount() {
  p=$1; m=$2; shift 2
  listing > /tmp/agent-listing
  while read -r dev mp; do
    if [ "$dev" = "$p" ] && [ "$mp" = "$m" ]; then return 0; fi
    if [ "$dev" = "$p" ] && [ "$mp" != "$m" ] && [ "$p" != tmpfs ]; then echo "Device $dev is already mounted to $mp, can't mount to $m" >&2; return 1; fi
    if [ "$mp" = "$m" ] && [ -n "$p" ]; then echo "Device $dev is already mounted to $mp, can't mount $p" >&2; return 1; fi
  done < /tmp/agent-listing
  opts=""
  for o in "$@"; do opts="$opts -o $o"; done
  if [ "$MODE" = bind ]; then opts="$opts -o bind"; fi
  mount "$p" "$m" $opts
}
# IsMountPoint: the partition the listing shows at a mount point.
mount_point_device() { listing | awk -v m="$1" '$2 == m { print $1; found = 1; exit } END { exit !found }'; }
# Unmount: only what the listing shows (as a partition or a mount point).
agent_unmount() {
  listing | awk -v x="$1" '$1 == x || $2 == x { found = 1 } END { exit !found }' || return 0
  umount "$1"
}
# Remount: the device of FROM, unmounted there, mounted at TO.
agent_remount() {
  from=$1; to=$2; shift 2
  dev=$(mount_point_device "$from") || { echo "Error finding device for mount point $from" >&2; return 1; }
  agent_unmount "$from" && agent_mount "$dev" "$to" "$@"
}
# MountPersistentDisk: at the store, or beside it when the store already holds another disk.
agent_mount_persistent() {
  target=$store
  if current=$(mount_point_device "$store"); then
    [ "$current" = "$1" ] && return 0
    target=$migration
  fi
  mkdir -p "$target" && agent_mount "$1" "$target"
}
# MigratePersistentDisk(store, migration target).
agent_migrate() {
  if [ "$MODE" != bind ]; then agent_remount "$store" "$store" ro || { echo "Remounting persistent disk as readonly" >&2; return 1; }; fi
  (tar -C "$store" -cf - .) | (tar -C "$migration" -xpf -) || { echo "Copying files from old disk to new disk" >&2; return 1; }
  agent_unmount "$store" || { echo "Unmounting old persistent disk" >&2; return 1; }
  agent_remount "$migration" "$store" || { echo "Remounting new disk on original mountpoint" >&2; return 1; }
}
`;

export type AgentMode = 'block' | 'bind';

/** A script for `sh -c`: the agent's functions, then `body` (using agent_mount_persistent, agent_migrate …). */
export function agentScript(mode: AgentMode, body: string): string {
  return `MODE=${mode}\n${FUNCTIONS}\n${body}`;
}
