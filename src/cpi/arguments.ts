/**
 * Positional arguments of a CPI method: each has a name and a schema, so an error can say which
 * argument was wrong and what was expected. Extra trailing arguments are tolerated (the v3
 * create_stemcell sends a tags object that older shapes lack); missing ones are not, unless
 * declared optional.
 */
import type * as z from 'zod/mini';
import { CpiError } from '../rpc/errors';
import { describeIssue, formatPath } from '../runtime/issues';

export interface ArgSpec<S extends z.ZodMiniType = z.ZodMiniType> {
  readonly name: string;
  readonly schema: S;
  readonly optional?: boolean;
}

export type ParsedArgs<A extends readonly ArgSpec[]> = { -readonly [K in keyof A]: z.output<A[K]['schema']> };

export function arg<S extends z.ZodMiniType>(name: string, schema: S): ArgSpec<S> {
  return { name, schema };
}

/** An argument that may be left out entirely (it then parses as `undefined`). */
export function optionalArg<S extends z.ZodMiniType>(name: string, schema: S): ArgSpec<S> {
  return { name, schema, optional: true };
}

const ORDINALS = ['first', 'second', 'third', 'fourth', 'fifth', 'sixth', 'seventh'];

export function parseArguments<const A extends readonly ArgSpec[]>(method: string, specs: A, raw: readonly unknown[]): ParsedArgs<A> {
  const required = specs.filter((s) => !s.optional).length;
  if (raw.length < required) {
    const names = specs.map((s) => (s.optional ? `[${s.name}]` : s.name)).join(', ');
    const missing = specs
      .slice(raw.length)
      .filter((s) => !s.optional)
      .map((s) => s.name)
      .join(', ');
    throw new CpiError(
      `${method} expects ${required} argument${required === 1 ? '' : 's'} (${names}) but got ${raw.length}: missing ${missing}`,
    );
  }
  const out: unknown[] = [];
  specs.forEach((spec, i) => {
    if (i >= raw.length) {
      out.push(undefined);
      return;
    }
    const value = raw[i];
    const result = spec.schema.safeParse(value);
    if (!result.success) {
      const issue = result.error.issues[0];
      const where = issue && issue.path.length ? ` at ${formatPath(issue.path)}` : '';
      const what = issue ? describeIssue(issue, value) : 'is invalid';
      throw new CpiError(`${method}: ${ORDINALS[i] ?? `#${i + 1}`} argument '${spec.name}'${where}: ${what}`);
    }
    out.push(result.data);
  });
  return out as ParsedArgs<A>;
}
