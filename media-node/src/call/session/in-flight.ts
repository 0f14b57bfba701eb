/** The calls a flow is running, so the node can report its load and drain before it stops. */
export class InFlight {
  private readonly running = new Set<Promise<void>>();

  track(run: Promise<void>): void {
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
  }

  get size(): number {
    return this.running.size;
  }

  /** Resolves when every call running now has ended. */
  async drained(): Promise<void> {
    await Promise.allSettled([...this.running]);
  }
}
