/**
 * The CPI configuration, in its canonical form. Files in the shape of
 * cloudfoundry/bosh-docker-cpi-release's cpi.json are mapped onto it first (see normalize.ts).
 */
import * as z from 'zod/mini';
import { LEVEL_NAMES } from '../log/logger';
import { OMNICLOUD_DEFAULTS as OMNI } from './omnicloud-defaults';

/** Defaults of the engine I/O bounds (README, Reliability), in seconds. */
export const ENGINE_BOUNDS = {
  connect_timeout_seconds: 10,
  request_timeout_seconds: 60,
  idle_timeout_seconds: 30,
  image_timeout_seconds: 1800,
  helper_timeout_seconds: 120,
} as const;

const LogLevel = z.enum(LEVEL_NAMES);

const DockerHost = z.string().check(
  z.refine(
    (h) => /^(unix|tcp|http|https):\/\/./.test(h),
    'must be unix:///path/to/docker.sock, tcp://host:port, http://host:port or https://host:port',
  ),
);

const Pem = z.string().check(z.minLength(1));

const TlsConfig = z.strictObject({
  ca: Pem,
  certificate: Pem,
  private_key: Pem.check(
    z.refine(
      (k) => !/ENCRYPTED/.test(k),
      'is an encrypted private key; the CPI needs it unencrypted (decrypt it with `openssl pkey`)',
    ),
  ),
});

export const DockerConfig = z.strictObject({
  host: DockerHost,
  /** Pins the Engine API version (e.g. "1.44"); without it the CPI negotiates with the engine. */
  api_version: z.optional(z.nullable(z.string().check(z.regex(/^1\.\d+$/, 'must look like "1.44"')))),
  tls: z.optional(z.nullable(TlsConfig)),
  /** Connect timeout for the engine, in seconds. */
  connect_timeout_seconds: z._default(z.number().check(z.gt(0), z.lte(3600)), ENGINE_BOUNDS.connect_timeout_seconds),
  /** Overall bound of one metadata request (inspect, list, create, remove, …); stop and restart add their grace period. */
  request_timeout_seconds: z._default(z.number().check(z.gt(0), z.lte(86400)), ENGINE_BOUNDS.request_timeout_seconds),
  /** A request fails when no byte moves either way for this long (a hung engine, a stalled stream). */
  idle_timeout_seconds: z._default(z.number().check(z.gt(0), z.lte(86400)), ENGINE_BOUNDS.idle_timeout_seconds),
  /** Overall bound of an image load (create_stemcell) or pull (light stemcells). */
  image_timeout_seconds: z._default(z.number().check(z.gt(0), z.lte(86400)), ENGINE_BOUNDS.image_timeout_seconds),
  /** Overall bound of a helper container (disk mounts), from create to removal. */
  helper_timeout_seconds: z._default(z.number().check(z.gt(0), z.lte(86400)), ENGINE_BOUNDS.helper_timeout_seconds),
});
export type DockerConfig = z.output<typeof DockerConfig>;

const BlobstoreConfig = z.strictObject({
  provider: z.string(),
  options: z._default(z.record(z.string(), z.unknown()), {}),
});

export const AgentConfig = z.strictObject({
  mbus: z.optional(z.nullable(z.string())),
  ntp: z._default(z.array(z.string()), []),
  blobstore: z.optional(z.nullable(BlobstoreConfig)),
});
export type AgentConfig = z.output<typeof AgentConfig>;

const LightStemcellConfig = z.strictObject({
  require_image_verification: z._default(z.boolean(), true),
  disable_light_stemcells: z._default(z.boolean(), false),
});

/**
 * The OmniCloud JSON-CPI engine (backend: omnicloud). Method-map entries and settings are checked
 * in detail by the omnicloud chunk, so building this schema stays cheap for every call.
 */
const OmniCloudConfig = z.strictObject({
  /** Directory of provider *.json files; default: the shipped providers/ directory. */
  providers_dir: z.optional(z.string().check(z.minLength(1))),
  /** The provider that serves BOSH methods. */
  provider: z.optional(z.string().check(z.minLength(1))),
  /** BOSH method → provider action (overrides the provider's defaults); null unmaps a method. */
  method_map: z._default(z.record(z.string(), z.unknown()), {}),
  /** Values for provider parameters, overriding the provider's default_settings. */
  settings: z._default(z.record(z.string(), z.unknown()), {}),
  /** Per-action timeout when neither action nor provider sets one. */
  timeout_seconds: z._default(z.number().check(z.gt(0), z.lte(86400)), OMNI.timeout_seconds),
  connect_timeout_seconds: z._default(z.number().check(z.gt(0), z.lte(3600)), OMNI.connect_timeout_seconds),
  /** Cap on a command's stdout or a response body. */
  max_output_bytes: z._default(z.int().check(z.gte(1024), z.lte(1024 * 1024 * 1024)), OMNI.max_output_bytes),
  /** Cap on the stderr kept from a command. */
  max_error_bytes: z._default(z.int().check(z.gte(1024), z.lte(64 * 1024 * 1024)), OMNI.max_error_bytes),
  /** Check the provider's validation block before its first action. */
  validate: z._default(z.boolean(), true),
  /** Run the initialization sequence (initialize_cli, configure_auth, test_auth, test_install) first. */
  initialize: z._default(z.boolean(), false),
  /** How long a passed validation or initialization is trusted by later CPI calls. */
  cache_seconds: z._default(z.int().check(z.gte(0)), OMNI.cache_seconds),
  /** Extra environment variables for provider commands. */
  env: z._default(z.record(z.string(), z.string()), {}),
  /** Variables passed through from the CPI's own environment. */
  pass_env: z._default(z.array(z.string()), []),
});

export const Config = z.strictObject({
  backend: z._default(z.enum(['docker', 'omnicloud']), 'docker'),
  log_level: z._default(LogLevel, 'info'),
  docker: DockerConfig,
  agent: z._default(AgentConfig, { ntp: [] }),
  /** true: systemd as PID 1 for every VM; false or absent: detected per stemcell (runit preferred). */
  start_containers_with_systemd: z.optional(z.nullable(z.boolean())),
  mount_cgroupfs: z._default(z.boolean(), true),
  enable_lxcfs_support: z._default(z.boolean(), false),
  light_stemcell: z._default(LightStemcellConfig, { require_image_verification: true, disable_light_stemcells: false }),
  /** Default for cloud_properties.privileged: warden/boshlite stemcells mount filesystems. */
  privileged: z._default(z.boolean(), true),
  /** Paths inside the container where the agent settings file is bind-mounted. */
  agent_settings_paths: z._default(
    z.array(z.string().check(z.regex(/^\/[^\0]*$/, 'must be an absolute path'))).check(z.minLength(1)),
    ['/var/vcap/bosh/warden-cpi-agent-env.json', '/var/vcap/bosh/user_data.json'],
  ),
  /** How the settings file reaches a container: a host file bind-mounted, or the engine's archive API. */
  settings_delivery: z._default(z.enum(['auto', 'bind', 'archive']), 'auto'),
  /**
   * Disks of VMs on an engine that cannot see this machine's files: `auto` attaches them live
   * through helpers on the engine's host (CAP_SYS_ADMIN, loop devices) where it allows;
   * `recreate` never runs such helpers and attaches by recreating the container.
   */
  remote_disks: z._default(z.enum(['auto', 'recreate']), 'auto'),
  /** Directory on the Docker host for per-VM settings and mount points. */
  state_dir: z.string().check(z.regex(/^\//, 'must be an absolute path')),
  /** Labels added to every container, volume, network and image the CPI creates. */
  labels: z._default(z.record(z.string(), z.string()), {}),
  /** Grace period of delete_vm and reboot_vm before the container is killed. */
  stop_timeout_seconds: z._default(z.int().check(z.gte(0), z.lte(3600)), 10),
  /** create_vm succeeds only when the container still runs this long after its start (and its init started). */
  start_settle_seconds: z._default(z.number().check(z.gte(0), z.lte(600)), 0.1),
  /** How long a call waits for another call's lock on the same VM or disk before failing retryably. */
  lock_timeout_seconds: z._default(z.number().check(z.gt(0), z.lte(86400)), 120),
  // prefault: the defaults come from OmniCloudConfig's own fields.
  omnicloud: z.prefault(OmniCloudConfig, {}),
});

export type Config = z.output<typeof Config>;