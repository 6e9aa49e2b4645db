/**
 * Everything the bench starts, and its end. Each start registers how to stop it; `run` stops them
 * in reverse order, each within a deadline, on success, failure, signal or the run's own deadline.
 * Child processes are also registered to be killed synchronously when the bench process exits, so
 * that none outlives it even when the bench dies in the middle.
 */
import type { ChildProcess } from "node:child_process"

/** The longest one step of the teardown may take before the next one runs anyway. */
const stepTimeoutMs = 15_000

export class Teardown {
  private readonly steps: Array<{ readonly name: string; readonly stop: () => Promise<void> }> = []
  private readonly children = new Set<ChildProcess>()
  private running: Promise<void> | undefined

  constructor() {
    process.once("exit", () => {
      for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    })
  }

  /** Registers how to stop something just started. */
  add(name: string, stop: () => Promise<void>): void {
    this.steps.push({ name, stop })
  }

  /** Registers a child process to kill at exit if it still runs. */
  child(child: ChildProcess): ChildProcess {
    this.children.add(child)
    child.once("exit", () => this.children.delete(child))
    return child
  }

  /** Stops everything registered, last first; runs once however often it is called. */
  run(): Promise<void> {
    this.running ??= this.stopAll()
    return this.running
  }

  private async stopAll(): Promise<void> {
    for (const step of this.steps.reverse()) {
      let timer: NodeJS.Timeout | undefined
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          console.error(`teardown: ${step.name} did not stop within ${stepTimeoutMs} ms; going on`)
          resolve()
        }, stepTimeoutMs)
      })
      const stopped = step.stop().catch((error: unknown) => console.error(`teardown: ${step.name}: ${String(error)}`))
      await Promise.race([stopped, deadline])
      clearTimeout(timer)
    }
    for (const child of this.children) child.kill("SIGKILL")
  }
}

export { within } from "../test/node-process.js"
