/** The request envelope: `{method, arguments, context, api_version}` (contract §2). */
import * as z from 'zod/mini';
import { describeIssue, describeType, formatPath } from '../runtime/issues';
import { parseJson, JsonSyntaxError } from '../runtime/json';
import { CpiError } from './errors';

const Context = z.looseObject({
  director_uuid: z.optional(z.nullable(z.string())),
  request_id: z.optional(z.nullable(z.string())),
  vm: z.optional(
    z.nullable(
      z.looseObject({
        stemcell: z.optional(z.nullable(z.looseObject({ api_version: z.optional(z.nullable(z.int())) }))),
      }),
    ),
  ),
});

const Envelope = z.looseObject({
  method: z.string().check(z.minLength(1)),
  arguments: z.array(z.unknown()),
  context: z.optional(z.nullable(Context)),
  api_version: z.optional(z.nullable(z.int().check(z.gte(1)))),
});

export interface Request {
  method: string;
  arguments: unknown[];
  context: Record<string, unknown>;
  /** 1 when the caller sent none (the Director's first info). */
  apiVersion: number;
  /** As sent, for logging. */
  api_version?: number;
  stemcellApiVersion?: number;
  requestId?: string;
  directorUuid?: string;
}

const EXAMPLE = '{"method":"info","arguments":[],"context":{}}';

export function parseRequest(text: string): Request {
  if (text.trim() === '') throw new CpiError(`empty request: expected one JSON object on STDIN, e.g. ${EXAMPLE}`);
  let raw: unknown;
  try {
    raw = parseJson(text);
  } catch (e) {
    throw new CpiError(`request is not valid JSON: ${(e as JsonSyntaxError).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new CpiError(`request must be a JSON object like ${EXAMPLE}, got ${describeType(raw)}`);
  }
  const parsed = Envelope.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.slice(0, 3).map((i) => `'${formatPath(i.path)}' ${describeIssue(i, raw)}`);
    throw new CpiError(`invalid request: ${problems.join('; ')}`);
  }
  const env = parsed.data;
  const context = (env.context ?? {}) as Record<string, unknown>;
  const req: Request = { method: env.method, arguments: env.arguments, context, apiVersion: env.api_version ?? 1 };
  if (env.api_version != null) req.api_version = env.api_version;
  const sv = env.context?.vm?.stemcell?.api_version;
  if (sv != null) req.stemcellApiVersion = sv;
  if (env.context?.request_id) req.requestId = env.context.request_id;
  if (env.context?.director_uuid) req.directorUuid = env.context.director_uuid;
  return req;
}
