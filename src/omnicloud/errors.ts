/**
 * The engine's error model: the standardization's categories (§10.1) plus TimeoutError, in its
 * `{error: {code, message, details}}` shape. The BOSH bridge maps categories to BOSH errors
 * (bridge/errors.ts); the debugging CLI prints the shape as is.
 */

export const CATEGORIES = [
  'AuthenticationError',
  'ResourceNotFoundError',
  'QuotaExceededError',
  'ValidationError',
  'RateLimitError',
  'ProviderError',
  'TimeoutError',
] as const;

export type Category = (typeof CATEGORIES)[number];

export type Details = Record<string, unknown>;

export class OmniError extends Error {
  readonly code: Category;
  readonly details: Details;

  constructor(code: Category, message: string, details: Details = {}) {
    super(message);
    this.name = code;
    this.code = code;
    this.details = details;
  }

  toJSON(): { error: { code: Category; message: string; details: Details } } {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

export function isOmniError(e: unknown): e is OmniError {
  // Duck-typed like the RPC core's errors: this module may exist in more than one bundle.
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as { code?: unknown }).code === 'string' &&
    (CATEGORIES as readonly string[]).includes((e as { code: string }).code) &&
    typeof (e as { details?: unknown }).details === 'object'
  );
}

/** An engine error as it is, anything else as a ProviderError with its message. */
export function asOmniError(e: unknown): OmniError {
  if (isOmniError(e)) return e;
  return new OmniError('ProviderError', e instanceof Error ? e.message : String(e));
}

export function validationError(message: string, details: Details = {}): OmniError {
  return new OmniError('ValidationError', message, details);
}

export function providerError(message: string, details: Details = {}): OmniError {
  return new OmniError('ProviderError', message, details);
}

/** A provider file that cannot be registered: names the file, the JSON path and the problem. */
export class ProviderLoadError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.join('; ')}`);
    this.name = 'ProviderLoadError';
  }
}

/**
 * Cuts text to at most `max` UTF-16 units without splitting a surrogate pair (the original engine
 * sliced bytes and panicked on multi-byte characters).
 */
export function truncateText(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = max;
  const code = s.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${s.slice(0, end)}… [${s.length - end} more characters]`;
}
