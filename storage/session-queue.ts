/**
 * The queue in front of a database that is one session (PGlite): one statement at a time, and a
 * waiting commit goes before every waiting read, so that a flood of public reads (block pages, feed
 * followers) never pushes a commit past its deadline. Reads keep their order among themselves, and
 * so do commits.
 *
 * A real server needs none of this: there commits have a connection of their own (`postgres.ts`).
 */
import { Deferred, Effect, Exit, FiberId } from "effect"

/** Commits and whatever must be ordered with them, or reads. */
export type Lane = "commit" | "read"

interface Waiter {
  /** Set when the session is handed over: from then on the waiter must release it, even if interrupted. */
  granted: boolean
  readonly wake: Deferred.Deferred<void>
}

export class SessionQueue {
  private busy = false
  private readonly waiting: Record<Lane, Waiter[]> = { commit: [], read: [] }

  /** Statements waiting for the session, by lane. */
  get queued(): { readonly commit: number; readonly read: number } {
    return { commit: this.waiting.commit.length, read: this.waiting.read.length }
  }

  /**
   * Runs `statement` once the session is free and no commit waits before it. Waiting can be
   * interrupted (a deadline); the session is released however the statement ends.
   */
  run<A, E>(lane: Lane, statement: Effect.Effect<A, E>): Effect.Effect<A, E> {
    return Effect.uninterruptibleMask((restore) =>
      restore(this.enter(lane)).pipe(Effect.zipRight(restore(statement).pipe(Effect.ensuring(Effect.sync(() => this.leave()))))),
    )
  }

  private enter(lane: Lane): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (!this.busy) {
        this.busy = true
        return Effect.void
      }
      const waiter: Waiter = { granted: false, wake: Deferred.unsafeMake<void>(FiberId.none) }
      this.waiting[lane].push(waiter)
      return Deferred.await(waiter.wake).pipe(Effect.onInterrupt(() => Effect.sync(() => this.abandon(lane, waiter))))
    })
  }

  /** An interrupted waiter leaves the queue, or passes the session on if it was handed over meanwhile. */
  private abandon(lane: Lane, waiter: Waiter): void {
    if (waiter.granted) return this.leave()
    const queue = this.waiting[lane]
    queue.splice(queue.indexOf(waiter), 1)
  }

  private leave(): void {
    const next = this.waiting.commit.shift() ?? this.waiting.read.shift()
    if (next === undefined) {
      this.busy = false
      return
    }
    next.granted = true
    Deferred.unsafeDone(next.wake, Exit.void)
  }
}
