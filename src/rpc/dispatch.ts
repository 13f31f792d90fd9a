/** Finds the method of a request (contract §5); unknown methods are NotImplemented. */
import { METHODS } from '../cpi/methods';
import { NotImplemented } from './errors';

function printable(name: string): string {
  const s = name.length > 64 ? name.slice(0, 64) + '…' : name;
  return JSON.stringify(s).slice(1, -1);
}

export function lookupMethod(name: string) {
  const entry = Object.prototype.hasOwnProperty.call(METHODS, name) ? METHODS[name] : undefined;
  if (!entry) throw new NotImplemented(`Must call implemented method: Unknown method '${printable(name)}'`);
  return entry;
}
