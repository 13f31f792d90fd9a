/**
 * Engine error categories as BOSH errors (contract §7):
 *
 * | category              | BOSH error                                                          |
 * |-----------------------|---------------------------------------------------------------------|
 * | ResourceNotFoundError | VMNotFound (delete_vm, reboot_vm, set_vm_metadata, get_disks),      |
 * |                       | DiskNotFound (delete_disk, resize_disk, snapshot_disk,              |
 * |                       | set_disk_metadata), DiskNotAttached (detach_disk); has_vm/has_disk  |
 * |                       | answer false; delete_stemcell/delete_snapshot/delete_network succeed |
 * | RateLimitError        | CloudError with ok_to_retry true (VMCreationFailed for create_vm)   |
 * | QuotaExceededError    | NoDiskSpace for create_disk, otherwise CloudError                  |
 * | ValidationError       | CpiError (the request, configuration or provider file is wrong)     |
 * | AuthenticationError, ProviderError, TimeoutError | CloudError                              |
 *
 * create_vm failures are always VMCreationFailed (ok_to_retry only for RateLimitError).
 */
import { CloudError, CpiError, DiskNotAttached, DiskNotFound, NoDiskSpace, VMCreationFailed, VMNotFound, type BoshError } from '../../rpc/errors';
import { isOmniError, type OmniError } from '../errors';

const VM_METHODS = new Set(['delete_vm', 'reboot_vm', 'set_vm_metadata', 'get_disks']);
const DISK_METHODS = new Set(['delete_disk', 'resize_disk', 'snapshot_disk', 'set_disk_metadata', 'update_disk']);

export interface Ids {
  vm?: string;
  disk?: string;
}

function describe(e: OmniError): string {
  return `${e.message} [${e.code}]`;
}

export function toBoshError(e: unknown, method: string, ids: Ids): BoshError | unknown {
  if (!isOmniError(e)) return e;
  const msg = describe(e);
  if (method === 'create_vm') return new VMCreationFailed(msg, e.code === 'RateLimitError');
  switch (e.code) {
    case 'ResourceNotFoundError':
      if (VM_METHODS.has(method) && ids.vm !== undefined) return withMessage(new VMNotFound(ids.vm), msg);
      if (DISK_METHODS.has(method) && ids.disk !== undefined) return withMessage(new DiskNotFound(ids.disk), msg);
      if (method === 'detach_disk') return new DiskNotAttached(msg);
      return new CloudError(msg);
    case 'RateLimitError':
      return new CloudError(msg, { okToRetry: true });
    case 'QuotaExceededError':
      return method === 'create_disk' ? new NoDiskSpace(msg) : new CloudError(msg);
    case 'ValidationError':
      return new CpiError(msg);
    default:
      return new CloudError(msg);
  }
}

/** Keeps the BOSH type's standard message first and the provider's reason after it. */
function withMessage(err: BoshError, reason: string): BoshError {
  Object.defineProperty(err, 'message', { value: `${err.message}: ${reason}`, enumerable: false, configurable: true, writable: true });
  return err;
}
