// The ledger's hashes (PROTOCOL.md section 5): SHA-256, the RFC 6962 Merkle tree hash that
// makes a block's `txRoot`, and the block hash, both over canonical (RFC 8785) bytes.
//
// `txRoot` and `blockHash` return a `Canonical` result rather than a bare string: a block read
// from a peer can hold a value with no canonical form (JSON.parse turns "\ud800" into a lone
// surrogate), and such a block must be refused, not crash the node that hashes it.
import * as cryptoModule from "node:crypto"
import { createHash } from "node:crypto"
import { canonicalBytes, type Canonical } from "./canonical.js"

/** Domain separation of RFC 6962 section 2.1: a leaf can never be mistaken for an inner node. */
const leafPrefix = new Uint8Array([0x00])
const nodePrefix = new Uint8Array([0x01])
const hashHexLength = 64
const lowercaseHex = /^[0-9a-f]*$/

export function sha256(bytes: Uint8Array): Uint8Array {
  // Copied out of the Buffer so that callers hold a plain Uint8Array that owns its memory.
  return new Uint8Array(createHash("sha256").update(bytes).digest())
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex")
}

export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")
}

/** The 32 bytes of a hash written as 64 lowercase hex digits (a block hash, `prev`); else undefined. */
export function hashFromHex(hex: string): Uint8Array | undefined {
  if (hex.length !== hashHexLength || !lowercaseHex.test(hex)) return undefined
  return new Uint8Array(Buffer.from(hex, "hex"))
}

/** The Merkle Tree Hash MTH(D[n]) of RFC 6962 section 2.1 over the leaves' bytes, in order. */
export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha256(new Uint8Array(0))
  return subtreeHash(leaves, 0, leaves.length)
}

/**
 * MTH(D[start:end]) for a non-empty range. Ranges are indices into the one array, so no leaf list
 * is ever copied: n leaf hashes and n - 1 node hashes, recursion only log2(n) deep.
 */
function subtreeHash(leaves: readonly Uint8Array[], start: number, end: number): Uint8Array {
  const count = end - start
  if (count === 1) return leafHash(leafAt(leaves, start))
  const split = start + largestPowerOfTwoBelow(count)
  return nodeHash(subtreeHash(leaves, start, split), subtreeHash(leaves, split, end))
}

/** The largest power of two strictly less than `count` (count >= 2): RFC 6962's k. */
function largestPowerOfTwoBelow(count: number): number {
  let power = 1
  while (power * 2 < count) power *= 2
  return power
}

function leafAt(leaves: readonly Uint8Array[], index: number): Uint8Array {
  const leaf = leaves[index]
  if (leaf === undefined) throw new Error(`merkleRoot: no leaf at index ${index} (sparse array?)`)
  return leaf
}

function leafHash(leaf: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(leafPrefix).update(leaf).digest())
}

function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (oneShot === undefined || left.length !== 32 || right.length !== 32) {
    return new Uint8Array(createHash("sha256").update(nodePrefix).update(left).update(right).digest())
  }
  // One call instead of a createHash chain of four: 0x01 ‖ left ‖ right in one 65-byte buffer.
  const input = Buffer.allocUnsafe(65)
  input[0] = 0x01
  input.set(left, 1)
  input.set(right, 33)
  return new Uint8Array(oneShot("sha256", input, "buffer"))
}

/** Hex Merkle root over the canonical bytes of each transaction, in order. */
export function txRoot(txs: readonly unknown[]): Canonical<string> {
  const leaves: Uint8Array[] = []
  for (let index = 0; index < txs.length; index++) {
    const bytes = canonicalBytes(txs[index])
    // The path names the transaction: "$[3]..." rather than the transaction's own "$...".
    if (!bytes.ok) return { ok: false, reason: bytes.reason, path: `$[${index}]${bytes.path.slice(1)}` }
    leaves.push(bytes.value)
  }
  return { ok: true, value: bytesToHex(merkleRoot(leaves)) }
}

/** Hex SHA-256 of the canonical bytes of a block header. */
export function blockHash(header: unknown): Canonical<string> {
  const bytes = canonicalBytes(header)
  return bytes.ok ? { ok: true, value: sha256Hex(bytes.value) } : bytes
}

/** Hex SHA-256 of the canonical bytes of a transaction: its identity in a block and in evidence. */
export function transactionHash(tx: unknown): Canonical<string> {
  return blockHash(tx)
}

/**
 * The RFC 6962 root of a list of leaves, built as the leaves arrive, so that sealing a block costs a
 * few hashes however many transactions it holds, and no long pause on the node's event loop. The
 * tree over n leaves splits at the largest power of two below n; the stack below holds the roots of
 * the perfect subtrees of the binary decomposition of n, largest first, and the root folds them
 * from the right: MTH = H(0x01 ‖ s1 ‖ H(0x01 ‖ s2 ‖ … sk)).
 */
export class MerkleAccumulator {
  private readonly stack: Array<{ readonly size: number; readonly hash: Uint8Array }> = []
  private count = 0

  get size(): number {
    return this.count
  }

  /** Adds a leaf given as text (hashed as its UTF-8 bytes). */
  addText(text: string): void {
    this.push(leafOfText(text))
  }

  private push(hash: Uint8Array): void {
    let entry = { size: 1, hash }
    for (;;) {
      const top = this.stack[this.stack.length - 1]
      if (top === undefined || top.size !== entry.size) break
      this.stack.pop()
      entry = { size: top.size * 2, hash: nodeHash(top.hash, entry.hash) }
    }
    this.stack.push(entry)
    this.count++
  }

  /** The hex root of the leaves added so far (SHA-256 of nothing for none). */
  root(): string {
    const last = this.stack[this.stack.length - 1]
    if (last === undefined) return bytesToHex(sha256(new Uint8Array(0)))
    let hash = last.hash
    for (let index = this.stack.length - 2; index >= 0; index--) hash = nodeHash((this.stack[index] as { hash: Uint8Array }).hash, hash)
    return bytesToHex(hash)
  }
}

/**
 * SHA-256(0x00 ‖ UTF-8 of text). The one-shot `crypto.hash` (Node 20.12 and later) costs half of a
 * createHash chain on inputs this small; U+0000 encodes to the single byte 0x00, the leaf prefix.
 */
const leafOfText = (text: string): Uint8Array =>
  oneShot === undefined
    ? new Uint8Array(createHash("sha256").update(leafPrefix).update(text, "utf8").digest())
    : new Uint8Array(oneShot("sha256", `\u0000${text}`, "buffer") as Buffer)

const oneShot = (cryptoModule as { hash?: (algorithm: string, data: string | Buffer, encoding: "buffer") => Buffer }).hash
