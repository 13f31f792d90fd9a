/** The engine's answers that are failures, and transport failures said for BOSH. */
import { CloudError, isBoshError } from '../../rpc/errors';
import type { Endpoint } from './endpoint';
import type { BoundKind } from './transport';

/**
 * An error answer of the engine. Recognise it with isEngineError, not instanceof: parts of the
 * backend are separate bundle chunks, each with its own copy of this class.
 */
export class EngineError extends Error {
  readonly isEngineError = true;
  constructor(
    readonly statusCode: number,
    readonly engineMessage: string,
    readonly method: string,
    readonly path: string,
  ) {
    super(`${method} ${path}: ${statusCode} ${engineMessage}`);
  }
}

export function isEngineError(e: unknown): e is EngineError {
  return typeof e === 'object' && e !== null && (e as { isEngineError?: unknown }).isEngineError === true;
}

/** True for an engine answer that means "no such object". */
export function isNotFound(e: unknown): boolean {
  return isEngineError(e) && e.statusCode === 404;
}

/** The configuration key behind each bound, named in timeout messages so operators know what to raise. */
export type OperationKind = 'api' | 'image' | 'helper';
const OVERALL_KEY: Record<OperationKind, string> = {
  api: 'docker.request_timeout_seconds',
  image: 'docker.image_timeout_seconds',
  helper: 'docker.helper_timeout_seconds',
};

/** What a request was, for messages: the method and the path without version or query. */
export interface Operation {
  method: string;
  path: string;
  kind: OperationKind;
}

const seconds = (ms: number): string => `${Math.round(ms / 100) / 10} s`;

/** A tripped bound: retryable (the engine may answer again), naming the engine, the request and the bound. */
export function timeoutError(where: Endpoint, op: Operation, bound: BoundKind, ms: number, cause: unknown): CloudError {
  const what = `${op.method} ${op.path}`;
  const text =
    bound === 'connect'
      ? `could not connect within ${seconds(ms)} (docker.connect_timeout_seconds) for ${what}`
      : bound === 'idle'
        ? `sent nothing for ${seconds(ms)} (docker.idle_timeout_seconds) during ${what}`
        : `did not finish ${what} within ${seconds(ms)} (${OVERALL_KEY[op.kind]})`;
  return new CloudError(`the Docker engine at ${where.display} ${text}`, { okToRetry: true, cause });
}

const RETRYABLE = ['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'];

/** A failure below HTTP (no socket, refused, reset, TLS, a cut or malformed answer) said for BOSH. */
export function connectionError(where: Endpoint, op: Operation, err: NodeJS.ErrnoException): Error {
  if (isBoshError(err) || isEngineError(err)) return err as Error;
  const code = err.code ?? '';
  if (code === 'EACCES' || code === 'EPERM') {
    return new CloudError(`permission denied on the Docker engine socket ${where.display}: the CPI's user cannot use it (add it to the docker group)`);
  }
  if (/^ERR_TLS|CERT|SSL/.test(code) || /certificate|tls|ssl/i.test(err.message)) {
    return new CloudError(`TLS with the Docker engine at ${where.display} failed: ${err.message}`, { cause: err });
  }
  const retry = { okToRetry: true, cause: err };
  if (code === 'ERESPONSE') return new CloudError(`the Docker engine at ${where.display} answered ${op.method} ${op.path} incompletely: ${err.message}`, retry);
  if (/^HPE_/.test(code)) return new CloudError(`the Docker engine at ${where.display} answered ${op.method} ${op.path} with malformed HTTP (${code})`, retry);
  const why: Record<string, string> = {
    ENOENT: `no socket at ${where.kind === 'unix' ? where.socketPath : where.display} (ENOENT); is dockerd running?`,
    ECONNREFUSED: 'connection refused (ECONNREFUSED); is dockerd running and listening there?',
    ECONNRESET: `the connection was reset (ECONNRESET) during ${op.method} ${op.path}`,
  };
  return new CloudError(`the Docker engine at ${where.display} is not reachable: ${why[code] ?? (code ? `${code} (${err.message})` : err.message)}`, {
    okToRetry: RETRYABLE.includes(code),
    cause: err,
  });
}
