/**
 * The progress line while the bench runs, on stderr so that stdout holds only the results: on a
 * terminal it is rewritten in place, elsewhere (a log, a test) it is printed once a second.
 */

const terminal = process.stderr.isTTY === true

let lastLength = 0

/** Shows `text` as the current progress line. */
export const progress = (text: string): void => {
  if (!terminal) return void process.stderr.write(`${text}\n`)
  process.stderr.write(`\r${text.padEnd(lastLength)}`)
  lastLength = text.length
}

/** Ends the progress line before something else is printed. */
export const progressDone = (): void => {
  if (!terminal || lastLength === 0) return
  process.stderr.write(`\r${" ".repeat(lastLength)}\r`)
  lastLength = 0
}

/** A phase's progress: its name, how far into the window it is, and the rate over the last second. */
export const phaseProgress = (name: string, unit: string, durationMs: number) => {
  let previous = { completed: 0, elapsedMs: 0 }
  return (completed: number, elapsedMs: number): void => {
    if (elapsedMs < 0) return progress(`  ${name}: warming up`)
    const rate = elapsedMs > previous.elapsedMs ? ((completed - previous.completed) * 1000) / (elapsedMs - previous.elapsedMs) : 0
    previous = { completed, elapsedMs }
    const shown = Math.min(elapsedMs, durationMs) / 1000
    progress(`  ${name}: ${shown.toFixed(1)}/${(durationMs / 1000).toFixed(1)} s, ${Math.round(rate).toLocaleString("en-US")} ${unit}`)
  }
}
