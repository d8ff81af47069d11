// Runs calls with at most `limit` in flight until a deadline, and says of each item whether its call finished,
// was still in flight at the deadline, or never started — whatever the calls do, it returns by the deadline.

export type Settled<R> = { state: 'done'; value: R } | { state: 'in-flight' } | { state: 'not-started' };

// Resolves when `signal` aborts; `dispose` removes the listener when the caller is done first.
function whenAborted(signal: AbortSignal): { promise: Promise<void>; dispose: () => void } {
  let listener = () => {};
  const promise = new Promise<void>((resolve) => {
    listener = () => resolve();
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', listener, { once: true });
  });
  return { promise, dispose: () => signal.removeEventListener('abort', listener) };
}

// Calls `fn` for the items in order, at most `limit` at a time, and starts none once `deadline` has aborted.
// `fn` gets the deadline signal to abandon its work; a call that ignores it is not waited for. A value that
// arrives after the deadline is not reported: the answer has been decided by then.
export async function mapUntil<T, R>(
  items: readonly T[],
  limit: number,
  deadline: AbortSignal,
  fn: (item: T, signal: AbortSignal) => Promise<R>,
): Promise<Settled<R>[]> {
  const settled: Settled<R>[] = items.map(() => ({ state: 'not-started' }));
  let next = 0;
  const worker = async () => {
    while (next < items.length && !deadline.aborted) {
      const index = next++;
      settled[index] = { state: 'in-flight' };
      const value = await fn(items[index] as T, deadline);
      if (deadline.aborted) return;
      settled[index] = { state: 'done', value };
    }
  };
  const aborted = whenAborted(deadline);
  try {
    await Promise.race([
      Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker)),
      aborted.promise,
    ]);
  } finally {
    aborted.dispose();
  }
  // A copy: workers still running past the deadline must not change what was reported.
  return settled.map((s) => ({ ...s }));
}
