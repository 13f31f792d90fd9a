/**
 * zod issues of a provider file as one line each: the JSON path and the problem. Union issues are
 * unpacked to the branch that matched the value's type, so `"method": "GET"` says which methods
 * exist instead of "does not match any accepted form".
 */
import type { core } from 'zod/mini';
import { describeIssue, formatPath } from '../../runtime/issues';

type Issue = core.$ZodIssue;

function rootTypeMismatch(issues: readonly Issue[]): boolean {
  return issues.some((i) => i.code === 'invalid_type' && i.path.length === 0);
}

function expand(issue: Issue): Issue[] {
  if (issue.code !== 'invalid_union') return [issue];
  const branches = (issue as { errors?: Issue[][] }).errors ?? [];
  const typed = branches.filter((b) => b.length && !rootTypeMismatch(b));
  if (typed.length === 1) {
    return (typed[0] as Issue[]).flatMap((i) => expand({ ...i, path: [...issue.path, ...i.path] } as Issue));
  }
  return [issue];
}

function describeProviderIssue(issue: Issue, root: unknown): string {
  // Our regex checks carry their own wording ("must be an identifier …").
  if (issue.code === 'invalid_format' && issue.message && !/^Invalid/.test(issue.message)) return issue.message;
  const options = (issue as { options?: unknown[] }).options;
  if (issue.code === 'invalid_union' && Array.isArray(options) && options.length) {
    return `expected one of ${options.map((o) => JSON.stringify(o)).join(', ')}`;
  }
  if (issue.code === 'invalid_union' && (issue as { errors?: Issue[][] }).errors?.length) {
    const alts = ((issue as { errors: Issue[][] }).errors)
      .map((b) => b.find((i) => i.path.length === 0))
      .filter((i): i is Issue => i !== undefined)
      .map((i) => (i.code === 'invalid_type' ? `${i.expected}` : i.code === 'invalid_value' ? `one of ${i.values.map((v) => JSON.stringify(v)).join(', ')}` : undefined))
      .filter(Boolean);
    if (alts.length) return `must be ${alts.join(' or ')}`;
  }
  return describeIssue(issue, root);
}

/** One problem per issue: `path: problem`. Values are never quoted (they may be secrets). */
export function providerProblems(issues: readonly Issue[], root: unknown, max = 20): string[] {
  const flat = issues.flatMap(expand);
  const out = flat.slice(0, max).map((i) => `${formatPath(i.path) || '(top level)'}: ${describeProviderIssue(i, root)}`);
  if (flat.length > max) out.push(`and ${flat.length - max} more problem(s)`);
  return out;
}
