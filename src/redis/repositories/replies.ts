/**
 * A pipeline's or transaction's `exec()` resolves with one `[error, reply]` pair per command instead of
 * rejecting: this rejects with the first error, so the operation's failure policy applies to it.
 */
export function repliesOrThrow(results: [Error | null, unknown][] | null): unknown[] {
  if (results === null) throw new Error('transaction aborted');
  const failed = results.find(([err]) => err !== null);
  if (failed) throw failed[0] as Error;
  return results.map(([, reply]) => reply);
}
