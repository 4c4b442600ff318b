/** A promise with its settle functions exposed, for events that arrive from elsewhere. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
  settled: boolean;
}

/** Creates a {@link Deferred}. `settled` turns true on the first resolve or reject. */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const d: Deferred<T> = {
    promise,
    settled: false,
    resolve(value) {
      if (d.settled) return;
      d.settled = true;
      resolve(value);
    },
    reject(reason) {
      if (d.settled) return;
      d.settled = true;
      reject(reason);
    },
  };
  return d;
}

/** Marks a promise as handled so that a rejection nobody reads never crashes the process. */
export function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}
