/**
 * Schemas of the values BOSH passes to CPI methods (contract §5). Shared by every backend; a
 * backend validates its own cloud_properties on top of these.
 *
 * zod/mini keeps the core bundle small: `info` must start nearly as fast as a bare node.
 */
import * as z from 'zod/mini';

/** A cloud ID: non-empty, printable, bounded. Backends may restrict it further. */
export const Cid = z.string().check(
  z.minLength(1),
  z.maxLength(1024),
  z.refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters'),
);

export const NullableCid = z.nullable(Cid);

/** A file path on the machine running the CPI. */
export const FilePath = z.string().check(z.minLength(1), z.maxLength(4096));

const JsonObject = z.record(z.string(), z.unknown());

/** An object argument the callers may also send as null (treated as empty). */
export const ObjectOrNull = z.pipe(
  z.nullable(JsonObject),
  z.transform((v) => v ?? {}),
);

export const CloudProperties = ObjectOrNull;
export type CloudProperties = z.output<typeof CloudProperties>;

const NetworkType = z.enum(['manual', 'dynamic', 'vip']);

/** One entry of create_vm's `networks`; unknown keys (mac, prefix, nic_group, …) pass through to the agent. */
export const NetworkSpec = z.looseObject({
  type: z.optional(NetworkType),
  ip: z.optional(z.nullable(z.string())),
  netmask: z.optional(z.nullable(z.string())),
  gateway: z.optional(z.nullable(z.string())),
  prefix: z.optional(z.nullable(z.union([z.string(), z.int()]))),
  dns: z.optional(z.nullable(z.array(z.string()))),
  default: z.optional(z.nullable(z.array(z.string()))),
  cloud_properties: z.optional(ObjectOrNull),
});
export type NetworkSpec = z.output<typeof NetworkSpec>;

export const Networks = z.pipe(
  z.nullable(z.record(z.string().check(z.minLength(1)), NetworkSpec)),
  z.transform((v) => v ?? {}),
);
export type Networks = z.output<typeof Networks>;

export const DiskCids = z.pipe(
  z.nullable(z.array(Cid)),
  z.transform((v) => v ?? []),
);

export const Env = ObjectOrNull;
export type Env = z.output<typeof Env>;

export const Metadata = ObjectOrNull;
export type Metadata = z.output<typeof Metadata>;

/** Disk sizes are MiB (contract §5). */
export const SizeMiB = z.int().check(z.gte(1));

export const VmResources = z.object({
  cpu: z.int().check(z.gte(1)),
  ram: z.int().check(z.gte(1)),
  ephemeral_disk_size: z.int().check(z.gte(0)),
});
export type VmResources = z.output<typeof VmResources>;

export const NetworkDefinition = z.looseObject({
  type: NetworkType,
  cloud_properties: z.optional(ObjectOrNull),
  range: z.optional(z.string()),
  gateway: z.optional(z.string()),
  netmask_bits: z.optional(z.int().check(z.gte(0), z.lte(128))),
});
export type NetworkDefinition = z.output<typeof NetworkDefinition>;

/** The agent's persistent-disk hint: a string, or an object whose values are all strings (§8.5). */
export type DiskHint = string | Record<string, string>;
