/**
 * A simulated card source for demos and tests: a fixed list of uids tapped one after the other,
 * `tapIntervalMs` apart. Uids typed on the terminal are the other simulated source (terminal.ts).
 */
import type { CardSource } from "./card-source.js"

export class ScriptedSource implements CardSource {
  private timer: NodeJS.Timeout | undefined
  private done: () => void = () => undefined
  /** Resolves once the last uid was tapped. */
  readonly finished: Promise<void>

  constructor(
    private readonly uids: readonly string[],
    private readonly tapIntervalMs: number,
  ) {
    this.finished = new Promise((resolve) => (this.done = resolve))
  }

  start(onTap: (uid: string) => void): Promise<void> {
    let next = 0
    const tapNext = () => {
      const uid = this.uids[next++]
      if (uid === undefined) return this.done()
      onTap(uid)
      this.timer = setTimeout(tapNext, this.tapIntervalMs)
    }
    this.timer = setTimeout(tapNext, 0)
    return Promise.resolve()
  }

  stop(): void {
    clearTimeout(this.timer)
    this.done()
  }
}
