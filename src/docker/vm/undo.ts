/** Steps to reverse when create_vm fails part-way, run newest first; nothing may be left behind. */
import type { Logger } from '../../log/logger';

export class Undo {
  private steps: Array<{ what: string; run: () => unknown }> = [];

  constructor(private readonly log: Logger) {}

  push(what: string, run: () => unknown): void {
    this.steps.push({ what, run });
  }

  /** The work succeeded: keep everything. */
  commit(): void {
    this.steps = [];
  }

  /** Reverses every step; false when some could not be (the engine went away, say). */
  async run(): Promise<boolean> {
    let clean = true;
    for (const s of this.steps.reverse()) {
      try {
        await s.run();
      } catch (e) {
        clean = false;
        this.log.warn(`cleaning up after a failed create_vm: could not ${s.what}`, { error: (e as Error).message });
      }
    }
    this.steps = [];
    return clean;
  }
}
