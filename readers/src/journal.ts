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
 */
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

/** What opening found: damaged lines are skipped (see `load`), and said so. */
export interface JournalOpened {
  readonly journal: Journal
  readonly damagedLines: number
}

type JournalRecord = { readonly reader: string } | { readonly request: RequestFrame; readonly atMs: number } | { readonly reply: string; readonly result: string }

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value)

const requestTypes = new Set(["sale", "check", "badge", "topup", "refund"])

/** A request record read back: the shape the hub writes, checked again because a disk can lie. */
const isRequestFrame = (value: unknown): value is RequestFrame =>
  isRecord(value) && typeof value["id"] === "string" && requestIdPattern.test(value["id"]) && requestTypes.has(String(value["type"])) && typeof value["card"] === "string"

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
   * Opens the journal at `path` (creating it), reads it back and rewrites it compacted. Lines that do
   * not parse are skipped: only the last write can be torn by a crash (every write is flushed before
   * the next request is sent), and skipping a damaged record never charges twice: a lost reply
   * record leaves its request waiting, to be resent and answered by the node's idempotency.
   */
  static open(path: string, limits: JournalLimits): JournalOpened {
    const journal = new Journal(path, limits)
    const damagedLines = existsSync(path) ? journal.load(readFileSync(path, "utf8")) : 0
    journal.compact()
    return { journal, damagedLines }
  }

  private load(text: string): number {
    let damaged = 0
    for (const line of text.split("\n")) {
      if (line === "") continue
      const record = decodeRecord(line)
      if (record === undefined) damaged++
      else this.apply(record)
    }
    return damaged
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
    const directory = openSync(dirname(this.path), "r")
    try {
      fsyncSync(directory)
    } finally {
      closeSync(directory)
    }
    this.close()
    this.fd = openSync(this.path, "a", 0o600)
    this.bytes = fstatSync(this.fd).size
    this.replyRecords = 0
  }
}
