/**
 * The readers that may connect: token hash -> reader, without the revoked ones. A reader has one
 * token at a time: giving it a new one (a reader created again after its revocation) drops the old.
 */
import type { StoredReader } from "../storage/ledger.js"
import type { ReaderDirectory } from "./readers.js"
import type { Reader } from "./wire.js"

export class ReaderDirectoryStore implements ReaderDirectory {
  private readonly byHash = new Map<string, Reader>()
  private readonly hashById = new Map<string, string>()

  constructor(readers: readonly StoredReader[]) {
    for (const reader of readers) if (!reader.revoked) this.add(reader)
  }

  byToken(tokenSha256: string): Reader | undefined {
    return this.byHash.get(tokenSha256)
  }

  add(reader: Reader & { readonly tokenSha256: string }): void {
    this.revoke(reader.id)
    this.byHash.set(reader.tokenSha256, { id: reader.id, place: reader.place, role: reader.role })
    this.hashById.set(reader.id, reader.tokenSha256)
  }

  revoke(readerId: string): void {
    const hash = this.hashById.get(readerId)
    if (hash === undefined) return
    this.byHash.delete(hash)
    this.hashById.delete(readerId)
  }
}
