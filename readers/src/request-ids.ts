/**
 * Request ids of one hub: unique per reader across restarts, because the node keys idempotency on
 * (reader, request id) for 24 hours. An id is the time in base 36 (so that ids sort by time in the
 * journal and in the node's logs), 96 random bits drawn once per process, and a counter. A restart
 * draws new random bits, so it never reuses an id even if the clock went back.
 */

export const requestIdPattern = /^[A-Za-z0-9_-]{1,64}$/

export class RequestIds {
  private counter = 0

  /** `session` is the per-process random part, in base64url (16 characters for 96 bits). */
  constructor(
    private readonly session: string,
    private readonly nowMs: () => number,
  ) {
    if (!/^[A-Za-z0-9_-]{8,32}$/.test(session)) throw new Error(`a request id session must be 8 to 32 base64url characters, not ${session}`)
  }

  next(): string {
    this.counter++
    const id = `${this.nowMs().toString(36)}-${this.session}-${this.counter.toString(36)}`
    if (!requestIdPattern.test(id)) throw new Error(`request id ${id} does not match the protocol's form`)
    return id
  }
}
