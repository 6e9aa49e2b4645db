/** The port every card source implements: it calls `onTap` with a card's uid each time one is tapped. */

export interface CardSource {
  /** Starts reading; resolves once taps can come, rejects with a clear reason when they never will. */
  start(onTap: (uid: string) => void): Promise<void>
  stop(): void
}
