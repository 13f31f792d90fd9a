/**
 * The error types the BOSH Director and CLI understand (contract §7).
 *
 * Backends are bundled into separate chunks, so a class may exist in more than one copy at run
 * time: the RPC core therefore recognises these errors by their `boshType` field, never with
 * `instanceof`.
 */

export const ErrorTypes = {
  CpiError: 'Bosh::Clouds::CpiError',
  NotImplemented: 'Bosh::Clouds::NotImplemented',
  NotSupported: 'Bosh::Clouds::NotSupported',
  CloudError: 'Bosh::Clouds::CloudError',
  VMNotFound: 'Bosh::Clouds::VMNotFound',
  NetworkNotFound: 'Bosh::Clouds::NetworkNotFound',
  NoDiskSpace: 'Bosh::Clouds::NoDiskSpace',
  DiskNotAttached: 'Bosh::Clouds::DiskNotAttached',
  DiskNotFound: 'Bosh::Clouds::DiskNotFound',
  VMCreationFailed: 'Bosh::Clouds::VMCreationFailed',
  StemcellNotFound: 'Bosh::Clouds::StemcellNotFound',
} as const;

export type ErrorType = (typeof ErrorTypes)[keyof typeof ErrorTypes];

export class BoshError extends Error {
  readonly boshType: ErrorType;
  readonly okToRetry: boolean;

  constructor(type: ErrorType, message: string, okToRetry = false, options?: { cause?: unknown }) {
    super(message, options);
    this.name = type.replace('Bosh::Clouds::', '');
    this.boshType = type;
    this.okToRetry = okToRetry;
  }
}

/** Malformed request or configuration: the caller sent something the CPI cannot act on. */
export class CpiError extends BoshError {
  constructor(message: string) {
    super(ErrorTypes.CpiError, message);
  }
}

export class NotImplemented extends BoshError {
  constructor(message: string) {
    super(ErrorTypes.NotImplemented, message);
  }
}

export class NotSupported extends BoshError {
  constructor(message: string) {
    super(ErrorTypes.NotSupported, message);
  }
}

export class CloudError extends BoshError {
  constructor(message: string, options?: { okToRetry?: boolean; cause?: unknown }) {
    super(ErrorTypes.CloudError, message, options?.okToRetry ?? false, options);
  }
}

export class VMNotFound extends BoshError {
  constructor(vmCid: string) {
    super(ErrorTypes.VMNotFound, `VM '${vmCid}' not found`);
  }
}

export class DiskNotFound extends BoshError {
  constructor(diskCid: string, okToRetry = false) {
    super(ErrorTypes.DiskNotFound, `Disk '${diskCid}' not found`, okToRetry);
  }
}

export class DiskNotAttached extends BoshError {
  constructor(message: string, okToRetry = false) {
    super(ErrorTypes.DiskNotAttached, message, okToRetry);
  }
}

export class NoDiskSpace extends BoshError {
  constructor(message: string, okToRetry = false) {
    super(ErrorTypes.NoDiskSpace, message, okToRetry);
  }
}

export class VMCreationFailed extends BoshError {
  constructor(message: string, okToRetry = false, options?: { cause?: unknown }) {
    super(ErrorTypes.VMCreationFailed, message, okToRetry, options);
  }
}

export interface BoshErrorLike {
  boshType: string;
  message: string;
  okToRetry: boolean;
}

export function isBoshError(e: unknown): e is BoshErrorLike {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as { boshType?: unknown }).boshType === 'string' &&
    typeof (e as { message?: unknown }).message === 'string'
  );
}
