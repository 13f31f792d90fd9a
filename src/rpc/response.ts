/** The response: always `{result, error, log}`, `log` a string, `ok_to_retry` a boolean (contract §3). */
import { redactString } from '../log/redact';
import { ErrorTypes, isBoshError } from './errors';

export interface ResponseError {
  type: string;
  message: string;
  ok_to_retry: boolean;
}

export interface Response {
  result: unknown;
  error: ResponseError | null;
  log: string;
}

export function successResponse(result: unknown, log: string): Response {
  return { result: result === undefined ? null : result, error: null, log };
}

/** Known CPI errors keep their type; anything else is reported as a CloudError with its message. */
function toResponseError(e: unknown): ResponseError {
  if (isBoshError(e)) return { type: e.boshType, message: redactString(e.message), ok_to_retry: e.okToRetry === true };
  const message = e instanceof Error ? e.message : String(e);
  return { type: ErrorTypes.CloudError, message: redactString(message || 'unexpected error'), ok_to_retry: false };
}

export function errorResponse(e: unknown, log: string): Response {
  return { result: null, error: toResponseError(e), log };
}

/** Serialises a response; a result JSON cannot carry becomes a CloudError rather than a crash. */
export function serialize(r: Response): string {
  try {
    return JSON.stringify(r);
  } catch (e) {
    return JSON.stringify(errorResponse(new Error(`the result cannot be encoded as JSON: ${(e as Error).message}`), r.log));
  }
}
