/**
 * The actions of a verified provider file (see load.ts), each compiled the first time it is
 * looked up: the names are known from the file, so the bridge can resolve its method map without
 * compiling anything.
 */
import type { CompiledAction } from './model';
import type { Action } from './schema';

export class LazyActions implements ReadonlyMap<string, CompiledAction> {
  private readonly compiled = new Map<string, CompiledAction>();

  constructor(
    private readonly raw: Readonly<Record<string, Action>>,
    private readonly compile: (name: string, action: Action) => CompiledAction,
  ) {}

  get size(): number {
    return Object.keys(this.raw).length;
  }

  has(name: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.raw, name);
  }

  get(name: string): CompiledAction | undefined {
    if (!this.has(name)) return undefined;
    let c = this.compiled.get(name);
    if (!c) {
      c = this.compile(name, this.raw[name] as Action);
      this.compiled.set(name, c);
    }
    return c;
  }

  keys(): MapIterator<string> {
    return Object.keys(this.raw)[Symbol.iterator]() as MapIterator<string>;
  }

  *values(): MapIterator<CompiledAction> {
    for (const k of Object.keys(this.raw)) yield this.get(k) as CompiledAction;
  }

  *entries(): MapIterator<[string, CompiledAction]> {
    for (const k of Object.keys(this.raw)) yield [k, this.get(k) as CompiledAction];
  }

  [Symbol.iterator](): MapIterator<[string, CompiledAction]> {
    return this.entries();
  }

  forEach(f: (value: CompiledAction, key: string, map: ReadonlyMap<string, CompiledAction>) => void): void {
    for (const [k, v] of this.entries()) f(v, k, this);
  }
}
