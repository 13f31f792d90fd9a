/**
 * What the bundle gives signal-exit (proper-lockfile's) for `assert` (scripts/build.mjs): its one
 * use is `assert.equal` on the type of an exit handler, and loading node's assert costs ~2 ms of
 * every call that takes a lock.
 */
function equal(actual: unknown, expected: unknown, message?: string): void {
  // Loose equality, as assert.equal has it.
  if (actual != expected) throw new Error(message ?? `${String(actual)} == ${String(expected)}`);
}

export = { equal };
