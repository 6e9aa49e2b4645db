/**
 * Text that another party supplied (a validator's reject reason, an engine's close reason), made
 * fit for one line of our log: bounded, and without control characters, so that a newline cannot
 * forge a log line and an ANSI escape cannot repaint an operator's terminal.
 */

/** Peer-supplied text kept in a log line, at most, in UTF-16 code units. */
export const logTextCharsMax = 200

// C0 and C1 controls and DEL; the Unicode line and paragraph separators; the bidirectional
// embeddings, overrides and isolates, which reorder what a terminal shows.
const controlRuns = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]+/g

/** `text` on one line, each run of control characters as one space, cut at `charsMax` with "…". */
export const oneLine = (text: string, charsMax = logTextCharsMax): string => {
  // Only a bounded prefix is looked at, however long the text: the cut comes after the clean-up.
  const clean = text.slice(0, 4 * charsMax).replace(controlRuns, " ")
  if (clean.length <= charsMax && text.length <= 4 * charsMax) return clean
  let cut = clean.slice(0, charsMax)
  // Never end on half of a surrogate pair.
  if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1)
  return `${cut}…`
}
