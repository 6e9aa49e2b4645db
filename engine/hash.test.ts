// Hashes against published vectors: FIPS 180-2 SHA-256, the Certificate Transparency (RFC 6962)
// reference tree, and a deliberately naive Merkle reference for every size up to 70.
import { describe, it, expect } from "vitest"
import fc from "fast-check"
import { createHash } from "node:crypto"
import { blockHash, bytesToHex, hashFromHex, merkleRoot, sha256, sha256Hex, transactionHash, txRoot, MerkleAccumulator } from "./hash.js"

const fromHex = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, "hex"))
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)
const emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

describe("sha256", () => {
  it("matches FIPS 180-2 (empty input, \"abc\")", () => {
    expect(sha256Hex(new Uint8Array(0))).toBe(emptyHash)
    expect(sha256Hex(utf8("abc"))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    expect(bytesToHex(sha256(utf8("abc")))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  })

  it("returns a plain 32-byte Uint8Array", () => {
    const digest = sha256(utf8("abc"))
    expect(digest.constructor).toBe(Uint8Array)
    expect(digest.byteLength).toBe(32)
  })
})

describe("hashFromHex", () => {
  it("reads 64 lowercase hex digits and nothing else", () => {
    expect(bytesToHex(hashFromHex(emptyHash) ?? new Uint8Array(0))).toBe(emptyHash)
    for (const bad of ["", emptyHash.slice(1), `${emptyHash}00`, emptyHash.toUpperCase(), `${emptyHash.slice(1)}g`]) {
      expect(hashFromHex(bad)).toBeUndefined()
    }
  })
})

// The Certificate Transparency test tree: RFC 6962 leaf inputs and the root of every prefix of
// them, as in transparency-dev/merkle testonly/constants.go (LeafInputs, RootHashes) and
// google/certificate-transparency python/ct/crypto/merkle_test.py (test_vector_hashes).
const ctLeaves = [
  "",
  "00",
  "10",
  "2021",
  "3031",
  "40414243",
  "5051525354555657",
  "606162636465666768696a6b6c6d6e6f",
].map(fromHex)
const ctRoots = [
  emptyHash,
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
// Level 0 of NodeHashes() in the same constants.go: the leaf hash of each input alone.
const ctLeafHashes = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
  "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
  "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
  "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
  "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
  "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
  "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
]

/** RFC 6962 section 2.1 transcribed as literally as possible: slices, concatenation, recursion. */
function naiveMerkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  const hash = (bytes: Uint8Array): Uint8Array => new Uint8Array(createHash("sha256").update(bytes).digest())
  const n = leaves.length
  if (n === 0) return hash(new Uint8Array(0))
  if (n === 1) return hash(Buffer.concat([Buffer.from([0x00]), leaves[0] ?? new Uint8Array(0)]))
  let k = 1
  while (k < n) k *= 2
  k /= 2
  const left = naiveMerkleRoot(leaves.slice(0, k))
  const right = naiveMerkleRoot(leaves.slice(k))
  return hash(Buffer.concat([Buffer.from([0x01]), left, right]))
}

describe("merkleRoot (RFC 6962)", () => {
  it.each(ctRoots.map((root, size) => [size, root] as const))(
    "gives the CT reference root for the first %i leaves",
    (size, root) => {
      expect(bytesToHex(merkleRoot(ctLeaves.slice(0, size)))).toBe(root)
    },
  )

  it.each(ctLeafHashes.map((leafHash, index) => [index, leafHash] as const))(
    "gives the CT reference leaf hash of leaf %i alone",
    (index, leafHash) => {
      expect(bytesToHex(merkleRoot(ctLeaves.slice(index, index + 1)))).toBe(leafHash)
    },
  )

  it("equals a naive transcription of RFC 6962 for every size from 0 to 70", () => {
    const leaves = fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 0, maxLength: 70, size: "max" })
    fc.assert(
      fc.property(leaves, (sample) => {
        expect(bytesToHex(merkleRoot(sample))).toBe(bytesToHex(naiveMerkleRoot(sample)))
      }),
      { numRuns: 500 },
    )
    for (let size = 0; size <= 70; size++) {
      const sample = Array.from({ length: size }, (_, index) => utf8(`leaf ${index}`))
      expect(bytesToHex(merkleRoot(sample)), `size ${size}`).toBe(bytesToHex(naiveMerkleRoot(sample)))
    }
  })

  it("handles 10,000 leaves", () => {
    const sample = Array.from({ length: 10_000 }, (_, index) => utf8(`tx ${index}`))
    expect(bytesToHex(merkleRoot(sample))).toBe(bytesToHex(naiveMerkleRoot(sample)))
  })

  it("depends on the order of the leaves", () => {
    const [a, b] = [utf8("a"), utf8("b")]
    expect(bytesToHex(merkleRoot([a, b]))).not.toBe(bytesToHex(merkleRoot([b, a])))
  })
})

describe("txRoot", () => {
  it("is SHA-256 of the empty string for no transactions", () => {
    expect(txRoot([])).toEqual({ ok: true, value: emptyHash })
  })

  it("hashes each transaction's canonical bytes as a leaf, in order", () => {
    const sale = { kind: "sale", id: "t1", legs: [{ to: "place:raffinerie", amount: 100 }] }
    const canonicalSale = '{"id":"t1","kind":"sale","legs":[{"amount":100,"to":"place:raffinerie"}]}'
    const leaf = createHash("sha256").update(Buffer.from([0x00])).update(canonicalSale).digest("hex")
    expect(txRoot([sale])).toEqual({ ok: true, value: leaf })

    const reordered = { legs: [{ amount: 100, to: "place:raffinerie" }], id: "t1", kind: "sale" }
    const badge = { kind: "badge", id: "t2" }
    const both = bytesToHex(merkleRoot([utf8(canonicalSale), utf8('{"id":"t2","kind":"badge"}')]))
    expect(txRoot([reordered, badge])).toEqual({ ok: true, value: both })
    expect(txRoot([badge, sale])).not.toEqual({ ok: true, value: both })
  })

  it("refuses a transaction with no canonical form, naming where it is", () => {
    const txs = [{ id: "t1" }, { id: "t2", legs: [{ amount: Number.NaN }] }]
    expect(txRoot(txs)).toEqual({ ok: false, reason: "non_finite_number", path: '$[1]["legs"][0]["amount"]' })
    expect(txRoot([{ id: "t1" }, undefined])).toEqual({ ok: false, reason: "no_json_form", path: "$[1]" })
  })
})

describe("blockHash", () => {
  const header = {
    federation: "reunion",
    height: 12,
    prev: "0".repeat(64),
    time: 1732400000250,
    txRoot: emptyHash,
    txCount: 0,
    proposer: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
  }
  const canonicalHeader =
    '{"federation":"reunion","height":12,"prev":"0000000000000000000000000000000000000000000000000000000000000000",' +
    '"proposer":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","time":1732400000250,' +
    `"txCount":0,"txRoot":"${emptyHash}"}`

  it("is the hex SHA-256 of the header's canonical bytes", () => {
    const expected = createHash("sha256").update(canonicalHeader, "utf8").digest("hex")
    expect(blockHash(header)).toEqual({ ok: true, value: expected })
    expect(blockHash({ ...header, height: 13 })).not.toEqual({ ok: true, value: expected })
  })

  it("refuses a header with no canonical form", () => {
    expect(blockHash({ ...header, time: 1n })).toEqual({ ok: false, reason: "no_json_form", path: '$["time"]' })
  })
})

describe("transactionHash", () => {
  it("hashes the canonical bytes, whatever the key order", () => {
    const tx = { legs: [{ to: "place:raffinerie", from: "card:04a1b2c3", asset: "fed", amount: 250 }], kind: "sale", id: "t1", time: 1732400000000 }
    const expected = createHash("sha256")
      .update('{"id":"t1","kind":"sale","legs":[{"amount":250,"asset":"fed","from":"card:04a1b2c3","to":"place:raffinerie"}],"time":1732400000000}')
      .digest("hex")
    const hashed = transactionHash(tx)
    expect(hashed.ok && hashed.value).toBe(expected)
  })
})

describe("MerkleAccumulator", () => {
  it("gives, leaf by leaf, the root merkleRoot gives over the whole list, for 0 to 70 leaves", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: "grapheme" }), { maxLength: 70 }), (texts) => {
        const accumulator = new MerkleAccumulator()
        const encoder = new TextEncoder()
        texts.forEach((text, index) => {
          accumulator.addText(text)
          expect(accumulator.size).toBe(index + 1)
          expect(accumulator.root()).toBe(bytesToHex(merkleRoot(texts.slice(0, index + 1).map((t) => encoder.encode(t)))))
        })
        if (texts.length === 0) expect(accumulator.root()).toBe(bytesToHex(merkleRoot([])))
      }),
      { numRuns: 60 },
    )
  })
})
