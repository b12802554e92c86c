/**
 * Runs tasks for the same key one after another (in this process). Writers to one operation then queue
 * here instead of racing each other's read-modify-write and retrying on version conflicts: under 50
 * concurrent PATCHes of one operation that turns O(n²) retries into n sequential writes. Writers on other
 * nodes are still handled by the optimistic version check.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.catch(() => {});
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
