/**
 * The hub's journal: an append-only file of the requests it made and of the final replies it got,
 * one JSON record a line. A request is written and flushed to disk (fsync) before it is sent, so
 * that after a crash, a power cut or a reconnect the hub sends again, under the same id, every
 * request that has no final reply; the node's idempotency on (reader, request id) then makes each
 * sale happen exactly once. Replies are appended without a flush: a lost reply record only means one
 * more resend, which the node answers with its first reply.
 *
 * Records:
 *   {"reader":ID}                      the reader the requests belong to (from the node's hello)
 *   {"request":FRAME,"atMs":T}         a request, before it is sent
 *   {"reply":ID,"result":"ok"|CODE}    its final reply (not overloaded/unavailable, which are retried)
 *
 * The file is rewritten (a temp file, flushed, renamed over it, the directory flushed) with only the
 * waiting requests once replies dominate it, and on every open, which also drops a torn last line.
 * It is bounded: beyond journalPendingMax waiting requests or journalBytesMax bytes, new requests are
 * refused rather than the file growing while the node is away.
 *
 * A damaged line anywhere else than at the end is not a write cut by a crash: the disk lost or
 * changed something, and a request there would be lost without a word. Opening then stops
 * (`JournalDamaged`) and leaves the file as it is, with a copy beside it; opened to recover, the
 * journal keeps what can be read and says what could not.
 */
import { createHash } from "node:crypto"
import { closeSync, existsSync, fstatSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs"
import { basename, dirname, join } from "node:path"
import type { RequestFrame } from "./protocol.js"
import { requestIdPattern } from "./request-ids.js"

export interface JournalLimits {
  readonly journalPendingMax: number
  readonly journalBytesMax: number
  readonly journalCompactBytesMin: number
}

export interface JournalEntry {
  readonly frame: RequestFrame
  readonly atMs: number
}

/** A line of the journal that could not be read, and what can still be made out of it. */
export interface UnreadableLine {
  /** Its number in the file, from 1. */
  readonly line: number
  /**
   * What it seems to have been: a request (perhaps sent, and then perhaps charged, but never sent
   * again), a reply (harmless: its request is sent again and the node answers it once), the reader
   * record, or nothing that can be told.
   */
  readonly seems: "request" | "reply" | "reader" | "unknown"
  readonly id?: string
  readonly type?: string
  readonly amount?: number
}

/** What opening found: a torn last line is dropped, and said so; damaged lines are listed when recovering. */
export interface JournalOpened {
  readonly journal: Journal
  readonly tornLastLine: boolean
  /** Lines that could not be read (only when opened to recover: otherwise opening throws). */
  readonly unreadable: readonly UnreadableLine[]
  /** The copy of the journal as it was found, kept beside it when it had unreadable lines. */
  readonly copy: string | undefined
}

/** The journal has damaged lines before its last one; it was left as it is, and copied. */
export class JournalDamaged extends Error {
  constructor(
    readonly path: string,
    readonly unreadable: readonly UnreadableLine[],
    readonly copy: string,
  ) {
    const lines = unreadable.map((line) => line.line)
    const requests = unreadable.filter((line) => line.seems === "request" || line.seems === "unknown").length
    super(
      `the journal ${path} has ${lines.length} damaged line(s) before its end (line ${lines.slice(0, 10).join(", ")}${lines.length > 10 ? ", …" : ""}): ` +
        `not a write cut by a crash, and ${requests === 0 ? "" : `${requests} of them may be requests that would be lost without a word; `}nothing was sent. ` +
        `The journal is left as it is, with a copy in ${copy}. To sell again now, start once with --journal-recover: ` +
        `it sends every request that can be read and lists the lines that cannot, for the organisers to check.`,
    )
    this.name = "JournalDamaged"
  }
}

export interface OpenOptions {
  /** Keep what can be read of a damaged journal and list the rest, instead of stopping. */
  readonly recover: boolean
}

type JournalRecord = { readonly reader: string } | { readonly request: RequestFrame; readonly atMs: number } | { readonly reply: string; readonly result: string }

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value)

const requestTypes = new Set(["sale", "check", "badge", "topup", "refund"])

/** A request record read back: the shape the hub writes, checked again because a disk can lie. */
const isRequestFrame = (value: unknown): value is RequestFrame =>
  isRecord(value) && typeof value["id"] === "string" && requestIdPattern.test(value["id"]) && requestTypes.has(String(value["type"])) && typeof value["card"] === "string"

/**
 * What a damaged line still tells, from the fields the hub writes, for the organisers: a card uid
 * is not taken from it (the copy of the journal keeps the whole line).
 */
const salvage = (text: string, line: number): UnreadableLine => {
  const id = /"id":"([A-Za-z0-9_-]{1,64})"/.exec(text)?.[1]
  const type = /"type":"(sale|check|badge|topup|refund)"/.exec(text)?.[1]
  const amount = /"amount":(\d{1,13})[,}]/.exec(text)?.[1]
  const found = { ...(id === undefined ? {} : { id }), ...(type === undefined ? {} : { type }), ...(amount === undefined ? {} : { amount: Number(amount) }) }
  if (text.includes('"request":')) return { line, seems: "request", ...found }
  const reply = /"reply":"([A-Za-z0-9_-]{1,64})"/.exec(text)?.[1]
  if (reply !== undefined) return { line, seems: "reply", id: reply }
  if (text.startsWith('{"reader":')) return { line, seems: "reader" }
  return { line, seems: "unknown", ...found }
}

const decodeRecord = (line: string): JournalRecord | undefined => {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return undefined
  }
  if (!isRecord(value)) return undefined
  if (typeof value["reader"] === "string") return { reader: value["reader"] }
  if (isRequestFrame(value["request"]) && Number.isSafeInteger(value["atMs"])) return { request: value["request"], atMs: value["atMs"] as number }
  if (typeof value["reply"] === "string" && typeof value["result"] === "string") return { reply: value["reply"], result: value["result"] }
  return undefined
}

export class Journal {
  private fd: number
  private bytes: number
  /** Requests without a final reply, in the order they were made (a Map keeps insertion order). */
  private readonly waiting = new Map<string, JournalEntry>()
  private replyRecords = 0
  private readerId: string | undefined

  private constructor(
    readonly path: string,
    private readonly limits: JournalLimits,
  ) {
    this.fd = -1
    this.bytes = 0
  }

  /**
   * Opens the journal at `path` (creating it), reads it back and rewrites it compacted. A last line
   * that does not parse and does not end the file with a newline is a write cut by a crash: every
   * record is written whole with its newline, and a request is sent only once its write is flushed,
   * so a torn request was never sent; it is dropped. A damaged line anywhere else throws
   * `JournalDamaged`, the file left untouched and a copy written beside it, unless `recover` is set:
   * then what can be read is kept (and the damaged lines are returned, for the hub to list).
   */
  static open(path: string, limits: JournalLimits, options: OpenOptions = { recover: false }): JournalOpened {
    const journal = new Journal(path, limits)
    const found = existsSync(path) ? readFileSync(path) : Buffer.alloc(0)
    const { records, tornLastLine, unreadable } = Journal.read(found.toString("utf8"))
    let copy: string | undefined
    if (unreadable.length > 0) {
      copy = Journal.keepCopy(path, found)
      if (!options.recover) throw new JournalDamaged(path, unreadable, copy)
    }
    for (const record of records) journal.apply(record)
    journal.compact()
    return { journal, tornLastLine, unreadable, copy }
  }

  private static read(text: string): { records: JournalRecord[]; tornLastLine: boolean; unreadable: UnreadableLine[] } {
    const lines = text.split("\n")
    // After the last newline: "" when the file ends with a whole record, else a record without its end.
    const last = lines.pop() ?? ""
    const records: JournalRecord[] = []
    const unreadable: UnreadableLine[] = []
    lines.forEach((line, index) => {
      if (line === "") return
      const record = decodeRecord(line)
      if (record === undefined) unreadable.push(salvage(line, index + 1))
      else records.push(record)
    })
    const lastRecord = last === "" ? undefined : decodeRecord(last)
    if (lastRecord !== undefined) records.push(lastRecord)
    return { records, tornLastLine: last !== "" && lastRecord === undefined, unreadable }
  }

  /**
   * Writes the journal as found beside it, flushed, named by a hash of its bytes: a hub restarted in
   * a loop by its service manager keeps one copy, not one per start.
   */
  private static keepCopy(path: string, bytes: Buffer): string {
    const copy = `${path}.damaged-${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}`
    if (existsSync(copy)) return copy
    const temp = join(dirname(path), `.${basename(copy)}.tmp`)
    const fd = openSync(temp, "w", 0o600)
    try {
      writeSync(fd, bytes)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(temp, copy)
    Journal.flushDirectory(path)
    return copy
  }

  private static flushDirectory(path: string): void {
    const directory = openSync(dirname(path), "r")
    try {
      fsyncSync(directory)
    } finally {
      closeSync(directory)
    }
  }

  private apply(record: JournalRecord): void {
    if ("reader" in record) this.readerId = record.reader
    else if ("request" in record) {
      if (!this.waiting.has(record.request.id)) this.waiting.set(record.request.id, { frame: record.request, atMs: record.atMs })
    } else if (this.waiting.delete(record.reply)) this.replyRecords++
  }

  /** The reader whose requests these are, once a hello has been recorded. */
  get reader(): string | undefined {
    return this.readerId
  }

  /** Requests without a final reply, oldest first. */
  pending(): JournalEntry[] {
    return [...this.waiting.values()]
  }

  isPending(id: string): boolean {
    return this.waiting.has(id)
  }

  get pendingCount(): number {
    return this.waiting.size
  }

  get sizeBytes(): number {
    return this.bytes
  }

  /** Why `count` more requests (the last of them a new tap) cannot be journaled now, or undefined when they can. */
  refusal(count: number): string | undefined {
    if (this.waiting.size + count > this.limits.journalPendingMax)
      return `journal full: ${this.waiting.size + count - 1} requests are waiting for the node (journalPendingMax ${this.limits.journalPendingMax})`
    return undefined
  }

  /** Records the reader the journal's requests belong to, flushed. */
  recordReader(reader: string): void {
    this.append([{ reader }], true)
    this.readerId = reader
  }

  /**
   * Appends requests and flushes them to disk: only after this returns may they be sent. Throws
   * when the journal is full; the caller checks `refusal` first to tell the bartender.
   */
  recordRequests(entries: readonly JournalEntry[]): void {
    const refused = this.refusal(entries.filter((entry) => !this.waiting.has(entry.frame.id)).length)
    if (refused !== undefined) throw new Error(refused)
    this.append(entries.map((entry) => ({ request: entry.frame, atMs: entry.atMs })), true)
    for (const entry of entries) if (!this.waiting.has(entry.frame.id)) this.waiting.set(entry.frame.id, entry)
  }

  /** Records a final reply (not flushed: see the module comment); compacts once replies dominate. */
  recordReply(id: string, result: string): void {
    if (!this.waiting.has(id)) return
    this.append([{ reply: id, result }], false)
    this.waiting.delete(id)
    this.replyRecords++
    if (this.bytes >= this.limits.journalCompactBytesMin && this.replyRecords > this.waiting.size) this.compact()
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd)
    this.fd = -1
  }

  private append(records: readonly JournalRecord[], flush: boolean): void {
    const text = records.map((record) => `${JSON.stringify(record)}\n`).join("")
    const length = Buffer.byteLength(text)
    if (this.bytes + length > this.limits.journalBytesMax) this.compact()
    if (this.bytes + length > this.limits.journalBytesMax)
      throw new Error(`journal full: ${this.bytes} bytes with ${this.waiting.size} requests waiting for the node (journalBytesMax ${this.limits.journalBytesMax})`)
    writeSync(this.fd, text)
    if (flush) fsyncSync(this.fd)
    this.bytes += length
  }

  /**
   * Rewrites the journal with the reader and the waiting requests only: into a temp file, flushed,
   * renamed over the journal (atomic), then the directory flushed so that the rename itself survives
   * a power cut. A crash at any point leaves either the old journal or the new one, whole.
   */
  private compact(): void {
    const records: JournalRecord[] = [
      ...(this.readerId === undefined ? [] : [{ reader: this.readerId }]),
      ...[...this.waiting.values()].map((entry) => ({ request: entry.frame, atMs: entry.atMs })),
    ]
    const text = records.map((record) => `${JSON.stringify(record)}\n`).join("")
    const temp = join(dirname(this.path), `.${basename(this.path)}.tmp`)
    const tempFd = openSync(temp, "w", 0o600)
    try {
      writeSync(tempFd, text)
      fsyncSync(tempFd)
    } finally {
      closeSync(tempFd)
    }
    renameSync(temp, this.path)
    Journal.flushDirectory(this.path)
    this.close()
    this.fd = openSync(this.path, "a", 0o600)
    this.bytes = fstatSync(this.fd).size
    this.replyRecords = 0
  }
}
