/** The readers that may connect: token hash -> reader, without the revoked ones. */
import type { StoredReader } from "../storage/ledger.js"
import type { ReaderDirectory } from "./readers.js"
import type { Reader } from "./wire.js"

export class ReaderDirectoryStore implements ReaderDirectory {
  private readonly byHash = new Map<string, Reader>()

  constructor(readers: readonly StoredReader[]) {
    for (const reader of readers) if (!reader.revoked) this.add(reader)
  }

  byToken(tokenSha256: string): Reader | undefined {
    return this.byHash.get(tokenSha256)
  }

  add(reader: Reader & { readonly tokenSha256: string }): void {
    this.byHash.set(reader.tokenSha256, { id: reader.id, place: reader.place, role: reader.role })
  }

  revoke(readerId: string): void {
    for (const [hash, reader] of this.byHash) if (reader.id === readerId) this.byHash.delete(hash)
  }
}
