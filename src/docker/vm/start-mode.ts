/**
 * How a VM's container starts: systemd as PID 1 (noble), runit's runsvdir-start (jammy and
 * older warden stemcells), or the image's own command (light stemcells built with one).
 *
 * The choice, strongest first: cloud_properties force_start_with(out)_systemd, the config's
 * start_containers_with_systemd: true, then what create_stemcell detected in the rootfs.
 */
import { VMCreationFailed } from '../../rpc/errors';
import type { ContainerCreateBody, MountSpec } from '../engine/types';
import type { InitDetection } from '../stemcell/rootfs-scan';

export type StartMode = 'systemd' | 'runit' | 'command';

export interface StartPlan {
  mode: StartMode;
  /** What PID 1 finally execs (systemd, runit modes). */
  program?: string;
}

/** What an image has, for a refusal's message. */
function has(d: InitDetection): string {
  const parts = [d.available?.runit && `runit (${d.available.runit})`, d.available?.systemd && `systemd (${d.available.systemd})`].filter(Boolean);
  return parts.length ? `it has ${parts.join(' and ')}` : 'it has no init at all';
}

/**
 * The choice, strongest first: the VM's force_start_with(out)_systemd (refused when the image
 * cannot do it, before anything is created), then what create_stemcell detected. The config's
 * start_containers_with_systemd only picks systemd for images that have it and were not detected
 * as something else: detection wins over a global switch (`warnings` says when it did).
 */
export function chooseStartMode(p: {
  detected: InitDetection;
  imageHasCommand: boolean;
  configSystemd: boolean | null | undefined;
  forceSystemd: boolean | undefined;
  stemcell: string;
  warnings?: string[];
}): StartPlan {
  const { detected } = p;
  if (p.forceSystemd === true) {
    const systemd = detected.available?.systemd ?? (detected.mode === 'systemd' ? detected.path : undefined);
    if (!systemd) throw new VMCreationFailed(`cloud_properties.force_start_with_systemd: stemcell ${p.stemcell} cannot start with systemd: ${has(detected)}`);
    return { mode: 'systemd', program: systemd };
  }
  if (p.forceSystemd === false) {
    if (detected.mode === 'runit') return { mode: 'runit', program: detected.path ?? '/usr/sbin/runsvdir-start' };
    if (p.imageHasCommand) return { mode: 'command' };
    throw new VMCreationFailed(`cloud_properties.force_start_without_systemd: stemcell ${p.stemcell} cannot start without systemd: ${has(detected)} and no command of its own`);
  }
  if (p.configSystemd === true && detected.mode !== 'systemd') {
    p.warnings?.push(`start_containers_with_systemd is set, but stemcell ${p.stemcell} was detected as ${detected.mode === 'none' ? 'having no init' : detected.mode}: starting it as detected (force_start_with_systemd in the VM's cloud_properties overrides detection)`);
  }
  if (detected.mode === 'runit') return { mode: 'runit', program: detected.path ?? '/usr/sbin/runsvdir-start' };
  if (detected.mode === 'systemd') return { mode: 'systemd', program: detected.path ?? '/sbin/init' };
  if (p.imageHasCommand) return { mode: 'command' };
  throw new VMCreationFailed(
    `stemcell ${p.stemcell} has neither an init (/sbin/init with systemd, or runsvdir-start) nor a command of its own; it cannot boot a VM`,
  );
}

/**
 * PID 1's preamble in systemd and runit modes. Docker bind-mounts /etc/resolv.conf, /etc/hosts
 * and /etc/hostname; the agent and systemd-resolved manage them on a VM, so they are unmounted
 * where that is allowed (privileged containers). Values arrive as environment variables and
 * positional parameters, never spliced into the script.
 */
const PREAMBLE = [
  'for f in /etc/resolv.conf /etc/hosts /etc/hostname; do umount "$f" 2>/dev/null && unmounted="$unmounted $f"; done',
  'case "$unmounted" in *resolv.conf*)',
  '  if [ -e /lib/systemd/systemd-resolved ] || [ -e /usr/lib/systemd/systemd-resolved ]; then',
  '    if [ "$BOSH_CPI_START_MODE" = systemd ]; then ln -sf ../run/systemd/resolve/stub-resolv.conf /etc/resolv.conf; fi',
  '  fi',
  '  if [ "$BOSH_CPI_START_MODE" = runit ] && [ -n "$BOSH_CPI_DNS" ]; then',
  '    : > /etc/resolv.conf; for ns in $BOSH_CPI_DNS; do echo "nameserver $ns" >> /etc/resolv.conf; done',
  '  fi;;',
  'esac',
].join('\n');

export interface StartConfig {
  body: Pick<ContainerCreateBody, 'Cmd' | 'Entrypoint' | 'Env' | 'StopSignal'>;
  tmpfs: Record<string, string>;
  mounts: MountSpec[];
  cgroupnsHost: boolean;
  /**
   * Docker's init (tini) as PID 1, running the start command as its child: it passes SIGTERM on,
   * so a stop does not wait the whole grace period for a PID 1 that ignores it, and it reaps
   * orphans. systemd must be PID 1 itself.
   */
  init: boolean;
}

export function startConfig(plan: StartPlan, p: { dns: string[]; cgroupVersion: string | undefined; mountCgroupfs: boolean }): StartConfig {
  const env = [`BOSH_CPI_START_MODE=${plan.mode}`, `BOSH_CPI_DNS=${p.dns.join(' ')}`];
  if (plan.mode === 'command') return { body: { Env: env }, tmpfs: {}, mounts: [], cgroupnsHost: false, init: true };
  if (plan.mode === 'runit') {
    return {
      // runsvdir-start expects a clean environment, as on a VM.
      body: {
        Entrypoint: ['/bin/sh', '-c', `${PREAMBLE}\nexec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$1"`, 'bosh-cpi-init'],
        Cmd: [plan.program as string],
        Env: env,
      },
      tmpfs: {},
      mounts: [],
      cgroupnsHost: false,
      init: true,
    };
  }
  const mounts: MountSpec[] = [];
  // On cgroup v2, systemd needs a writable hierarchy; on v1 the bind caused runc's "dying
  // cgroup" EBUSY on delete, so it is left to the engine there.
  if (p.cgroupVersion === '2' && p.mountCgroupfs) mounts.push({ Type: 'bind', Source: '/sys/fs/cgroup', Target: '/sys/fs/cgroup', ReadOnly: false } as MountSpec);
  return {
    body: {
      Entrypoint: ['/bin/sh', '-c', `${PREAMBLE}\nexec "$1"`, 'bosh-cpi-init'],
      Cmd: [plan.program as string],
      Env: [...env, 'container=docker'],
      StopSignal: 'SIGRTMIN+3',
    },
    tmpfs: { '/run': 'rw,nosuid,nodev,exec,mode=755', '/run/lock': 'rw,nosuid,nodev,noexec' },
    mounts,
    cgroupnsHost: true,
    init: false,
  };
}
