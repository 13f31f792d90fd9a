/**
 * The provider file format, as one zod schema that accepts every published shape:
 *
 * - the container guide's: `type: "container"`, actions with `command`, `params`, `pre_delete`,
 *   `default_settings`, top-level `validation`;
 * - the standardization's targets: `{"Command": "…"}` and `{"Command": {"command": "…", "in_vm": false}}`;
 * - `{"Endpoint": {url, method, headers, body}}` with methods Get, Post, Put, Patch, Delete, Option
 *   and `{"Custom": "VERB"}`.
 *
 * Unknown keys are errors that name the key (the original engine ignored them silently). Checks
 * that need more than one field (placeholders declared, hooks referring to earlier steps) are in
 * load.ts.
 */
import * as z from 'zod/mini';
import { JSON_TRANSFORMS, TRANSFORMS } from '../parse/transform';
import { isPointer } from '../parse/json';
import { CATEGORIES } from '../errors';
import { STATUSES } from '../status';
import { HTTP_METHODS } from './model';

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const ParamName = z.string().check(z.regex(IDENT, 'must be an identifier (letters, digits and _, not starting with a digit)'));
export const FieldName = z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'must be a field name (letters, digits, _ and -)'));
export const ActionName = z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'must be an action name (letters, digits, _ and -)'));
const NonEmpty = z.string().check(z.minLength(1));

/**
 * A regex source. Whether the linear-time engine accepts it (parse/regex.ts, parse/linear.ts) is
 * checked where load.ts compiles it, once: a refused pattern is a load error at the same path.
 */
export const RegexSource = z.string();

const Flags = z.string().check(z.regex(/^[ims]*$/, "may only hold the flags 'i', 'm' and 's'"));

const Json = z.json();

export const Pattern = z.strictObject({
  regex: RegexSource,
  group: z.optional(z.union([z.int().check(z.gte(0)), FieldName])),
  transform: z.optional(z.enum(TRANSFORMS)),
  optional: z.optional(z.boolean()),
  default: z.optional(Json),
  flags: z.optional(Flags),
  description: z.optional(z.string()),
});
export type Pattern = z.output<typeof Pattern>;

const RelatedPattern = z.strictObject({
  ...Pattern.shape,
  match_value: z.optional(FieldName),
});

const Patterns = z.record(FieldName, Pattern);

const ObjectRules = z.strictObject({ type: z.literal('object'), patterns: Patterns });
const ArrayRules = z.strictObject({
  type: z.literal('array'),
  separator: z.optional(RegexSource),
  patterns: Patterns,
  header_lines: z.optional(z.int().check(z.gte(0))),
  footer_lines: z.optional(z.int().check(z.gte(0))),
});
const ArrayPattern = z.strictObject({
  prefix: RegexSource,
  index: RegexSource,
  object: Patterns,
});
const PropertiesRules = z.strictObject({
  type: z.literal('properties'),
  patterns: z.optional(Patterns),
  array_patterns: z.optional(z.record(FieldName, ArrayPattern)),
  array_key: z.optional(FieldName),
  related_patterns: z.optional(z.record(FieldName, RelatedPattern)),
});
const Pointer = z.string().check(z.refine(isPointer, "must be a JSON pointer: '' or '/a/b'"));
const JsonFieldSpec = z.union([
  Pointer,
  z.strictObject({
    pointer: Pointer,
    optional: z.optional(z.boolean()),
    default: z.optional(Json),
    transform: z.optional(z.enum(JSON_TRANSFORMS)),
  }),
]);
const JsonRules = z.strictObject({
  type: z.literal('json'),
  lines: z.optional(z.boolean()),
  items: z.optional(Pointer),
  /** A document (or line) with a non-empty value here reports an error in-band: the step fails with it. */
  error_pointer: z.optional(Pointer),
  fields: z.optional(z.record(FieldName, JsonFieldSpec)),
});
const TextRules = z.strictObject({ type: z.literal('text'), trim: z.optional(z.boolean()) });

export const ParseRules = z.discriminatedUnion('type', [ObjectRules, ArrayRules, PropertiesRules, JsonRules, TextRules]);
export type ParseRules = z.output<typeof ParseRules>;

const CommandObject = z.strictObject({
  command: NonEmpty,
  in_vm: z.optional(z.boolean().check(z.refine((v) => v === false, 'in_vm: true (running the command over SSH inside a worker) is not supported'))),
  shell: z.optional(z.boolean()),
});


const Method = z.union([
  z.enum(Object.keys(HTTP_METHODS) as [keyof typeof HTTP_METHODS, ...Array<keyof typeof HTTP_METHODS>]),
  z.strictObject({ Custom: z.string().check(z.regex(/^[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*$/, 'must be an HTTP method token')) }),
]);

export const Endpoint = z.strictObject({
  url: NonEmpty,
  method: Method,
  headers: z.optional(z.record(z.string().check(z.regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be an HTTP header name')), z.string())),
  body: z.optional(z.union([z.string(), z.record(z.string(), Json), z.array(Json)])),
  /** Streams the file a parameter names as the body: exactly one placeholder (exec/bodies.ts). */
  body_file: z.optional(NonEmpty),
  /** The most body_file may send (default 8 GiB). */
  max_body_bytes: z.optional(z.int().check(z.gte(1))),
  /** A tar archive of these files as the body (names literal, contents templates). */
  body_archive: z.optional(
    z
      .array(z.strictObject({ name: NonEmpty, content: z.string(), mode: z.optional(z.int().check(z.gte(0), z.lte(0o7777))) }))
      .check(z.minLength(1)),
  ),
  /** The response is a tar archive: the parse rules read this file of it. */
  response_archive_member: z.optional(NonEmpty),
  /** Sends the request over this unix socket (e.g. /var/run/docker.sock); the URL's host is then a label. */
  unix_socket: z.optional(NonEmpty),
  verify_ssl: z.optional(z.boolean()),
  /** Statuses besides 2xx that count as success (e.g. 304 for "already stopped"). */
  accept_status: z.optional(z.array(z.int().check(z.gte(100), z.lte(599)))),
  connect_timeout_seconds: z.optional(z.number().check(z.gt(0))),
  read_timeout_seconds: z.optional(z.number().check(z.gt(0))),
});

export const Target = z
  .strictObject({
    Command: z.optional(z.union([NonEmpty, CommandObject])),
    Endpoint: z.optional(Endpoint),
  })
  .check(z.refine((t) => (t.Command === undefined) !== (t.Endpoint === undefined), 'must hold exactly one of Command or Endpoint'));

export const ErrorRule = z.strictObject({
  category: z.enum(CATEGORIES.filter((c) => c !== 'TimeoutError') as [string, ...string[]]),
  exit_codes: z.optional(z.array(z.int())),
  http_status: z.optional(z.array(z.int().check(z.gte(100), z.lte(599)))),
  /** Matched against stderr (Command) or the response body (Endpoint), and stdout. */
  pattern: z.optional(RegexSource),
  message: z.optional(z.string()),
});
export type ErrorRule = z.output<typeof ErrorRule>;

const Env = z.record(z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')), z.string());

/** What a step and an action share. */
const stepShape = {
  description: z.optional(z.string()),
  target: z.optional(Target),
  /** The container guide's form of a Command target. */
  command: z.optional(NonEmpty),
  params: z.optional(z.array(ParamName)),
  parse_rules: z.optional(ParseRules),
  default_settings: z.optional(z.record(ParamName, Json)),
  timeout_seconds: z.optional(z.number().check(z.gt(0), z.lte(86400))),
  env: z.optional(Env),
  cwd: z.optional(NonEmpty),
  error_rules: z.optional(z.array(ErrorRule)),
  /** Fields the parsed result must hold, with their values; anything else fails the step. */
  expect: z.optional(z.record(FieldName, Json)),
};

export const Step = z.strictObject({
  ...stepShape,
  name: z.optional(ParamName),
  on_failure: z.optional(z.enum(['abort', 'continue'])),
  /** post_exec only: run even when the main target failed (clean-up). */
  always: z.optional(z.boolean()),
  /** post_exec only: run only when an earlier step failed — undo what the action made (a rollback). */
  rollback: z.optional(z.boolean()),
});
export type Step = z.output<typeof Step>;

/** A hook: a step, or a command template string (the container guide's pre_delete form). */
const Hook = z.union([NonEmpty, Step]);

export const Action = z.strictObject({
  ...stepShape,
  pre_exec: z.optional(z.array(Hook)),
  post_exec: z.optional(z.array(Hook)),
  pre_delete: z.optional(z.array(Hook)),
  secret_params: z.optional(z.array(ParamName)),
  param_patterns: z.optional(z.record(ParamName, RegexSource)),
  /** Parameters a manifest's cloud_properties may set (besides the provider's list). */
  overridable: z.optional(z.array(ParamName)),
  max_output_bytes: z.optional(z.int().check(z.gte(1))),
});
export type Action = z.output<typeof Action>;

export const PROVIDER_TYPES = ['container', 'command', 'endpoint', 'cloud', 'virt'] as const;

const Validation = z.strictObject({
  required_commands: z.optional(z.array(NonEmpty)),
  version_requirements: z.optional(z.record(NonEmpty, NonEmpty)),
});

/** A method-map entry: an action name, null (not mapped), or an action with argument mapping. */
export const MethodMapEntry = z.union([
  z.null(),
  ActionName,
  z.strictObject({
    action: ActionName,
    /** Extra params, templates over the bridge's params (`"name": "bosh-{agent_id}"`). */
    params: z.optional(z.record(ParamName, z.string())),
    /** Where the new CID comes from: `result:<field>` or `param:<name>`. */
    cid: z.optional(z.string().check(z.regex(/^(result|param):[A-Za-z_][A-Za-z0-9_.-]*$/, "must be 'result:<field>' or 'param:<name>'"))),
    /** attach_disk: the disk hint, a template over the params and `{result.*}`. */
    hint: z.optional(NonEmpty),
    /** create_vm/create_disk: on failure run the matching delete with the same params. */
    cleanup: z.optional(z.boolean()),
  }),
]);
export type MethodMapEntry = z.output<typeof MethodMapEntry>;

export const MethodMap = z.record(z.string(), MethodMapEntry);

export const Provider = z.strictObject({
  $schema: z.optional(z.string()),
  name: z.string().check(z.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must start with a letter or digit and hold only letters, digits, _, . and -'), z.maxLength(64)),
  type: z.enum(PROVIDER_TYPES),
  description: z.optional(z.string()),
  default_settings: z.optional(z.record(ParamName, Json)),
  actions: z.record(ActionName, Action).check(z.refine((a) => Object.keys(a).length > 0, 'must define at least one action')),
  validation: z.optional(Validation),
  status_map: z.optional(z.record(NonEmpty, z.enum(STATUSES))),
  status_fields: z.optional(z.array(FieldName)),
  error_rules: z.optional(z.array(ErrorRule)),
  secret_params: z.optional(z.array(ParamName)),
  param_patterns: z.optional(z.record(ParamName, RegexSource)),
  /** Parameters computed from others after every layer is merged (an API's units): `{from, multiply}`. */
  derived_params: z.optional(z.record(ParamName, z.strictObject({ from: ParamName, multiply: z.number().check(z.gt(0)) }))),
  /** Parameters a manifest's cloud_properties may set in every action; nothing else can come from a manifest. */
  overridable: z.optional(z.array(ParamName)),
  env: z.optional(Env),
  /** Variables passed through from the CPI's own environment (e.g. DOCKER_HOST). */
  pass_env: z.optional(z.array(z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')))),
  timeout_seconds: z.optional(z.number().check(z.gt(0), z.lte(86400))),
  verify_ssl: z.optional(z.boolean()),
  bosh: z.optional(z.strictObject({ method_map: z.optional(MethodMap) })),
});
export type ProviderFile = z.output<typeof Provider>;
