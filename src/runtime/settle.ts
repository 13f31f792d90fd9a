/**
 * Runs independent engine calls side by side. Unlike Promise.all it waits for every task, so
 * none is still in flight when the response is written or a rollback starts; then throws the
 * failure of the earliest task in the list that failed (a stable choice, not a race).
 */
export async function settleAll<T extends readonly unknown[]>(tasks: readonly [...{ [K in keyof T]: Promise<T[K]> }]): Promise<T> {
  const results = await Promise.allSettled(tasks);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
