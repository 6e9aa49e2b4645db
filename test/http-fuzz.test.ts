/**
 * Fuzzing the node's HTTP edge, black-box: a running node takes well over 100,000 generated
 * requests and upgrades on raw TCP connections (malformed request lines and targets, broken percent
 * escapes, every method, odd and oversized headers, bodies of every kind and size, upgrades to
 * every path, connections that send byte by byte and connections cut halfway) while a cash desk
 * keeps tapping. The node must never exit, every tap must be answered, and it must still serve.
 *
 * Inputs come from a seeded generator, so that a failure can be replayed: the seed is printed.
 */
import { connect, type Socket } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { adminToken, blackBoxCards, ReaderClient, startNode, tokenOf, type NodeProcess } from "./node-process.js"

/** Requests and upgrades to send in all; the issue asks for at least 100,000. */
const requestsTotal = Number(process.env["GESELL_FUZZ_REQUESTS"] ?? 120_000)
const connectionsAtOnce = 24
const seed = Number(process.env["GESELL_FUZZ_SEED"] ?? 20261202)

/** xorshift32: deterministic, so that a seed replays a run (Math.random cannot be seeded). */
const generator = (start: number) => {
  let state = start >>> 0 || 1
  const next = (): number => {
    state ^= state << 13
    state >>>= 0
    state ^= state >>> 17
    state ^= state << 5
    state >>>= 0
    return state / 0x1_0000_0000
  }
  const int = (n: number) => Math.floor(next() * n)
  const pick = <A>(items: readonly A[]): A => items[int(items.length)] as A
  return { next, int, pick }
}
type Random = ReturnType<typeof generator>

const routes = [
  "/v1/live", "/v1/health", "/v1/supply", "/v1/blocks", "/v1/blocks/0", "/v1/blocks/1", "/v1/openapi.json", "/metrics",
  "/v1/admin/places", "/v1/admin/assets", "/v1/admin/readers", "/v1/admin/readers/bar-9", "/v1/admin/cards",
  "/v1/admin/commands", "/v1/admin/wallets/card:04a1b2c3", "/v1/readers", "/v1/federation", "/",
]
const oddTargets = [
  "//[", "/[", "*", "", " ", "%", "/%", "/%zz", "/v1/admin/wallets/%E0%A4%A", "/v1/admin/wallets/%", "/v1/blocks/%FF",
  "/v1/blocks?from=%zz", "/v1/blocks?from=-1&limit=1e3", "/v1/blocks?limit=1001", "/v1/blocks?from=99999999999999999999",
  "http://[::1", "http://x:99999/", "//evil.example/v1/health", "/v1/../../etc/passwd", "/v1/blocks/0x10", "/v1/health?x=%00",
  "/\u00e9t\u00e9", "/v1/blocks/1/2/3", "/v1/admin/readers/", "/v1/admin/readers/%2e%2e",
]
const methods = ["GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD", "TRACE", "CONNECT", "PROPFIND", "G ET", "get", "X".repeat(40)]
const contentTypes = ["application/json", "text/csv", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/octet-stream", "a/b;;;=", "\u00ff"]
const bodies = [
  "{}", "[]", "null", "{", "{\"id\":\"x\",\"name\":\"y\",\"accepts\":[],\"request\":\"r\"}", "{\"kind\":\"refill\",\"request\":\"a\"}",
  "uid,number\n04a1b2c3,N1\n", "uid,number\nxyz,1,2\n", "\u0000\u0001\u0002", "{\"cards\":[{\"uid\":{}}],\"request\":\"c\"}",
  "{\"id\":\"a\".repeat(99)}", "\"string\"", "1e309", "{\"__proto__\":{\"x\":1}}",
]

const targetOf = (random: Random): string => {
  const base = random.next() < 0.6 ? random.pick(routes) : random.pick(oddTargets)
  const r = random.next()
  if (r < 0.1) return base + "?" + "a=b&".repeat(random.int(50))
  if (r < 0.12) return base + "/" + "x".repeat(random.int(20_000))
  if (r < 0.2) return base + "%" + random.int(256).toString(16)
  return base
}

const headersOf = (random: Random, body: string): string[] => {
  const headers = ["Host: 127.0.0.1"]
  const auth = random.next()
  // The right admin token only with methods that cannot revoke the tapping reader.
  if (auth < 0.2) headers.push(`Authorization: Bearer ${adminToken}`)
  else if (auth < 0.35) headers.push(`Authorization: ${random.pick(["Bearer", "Basic", "Member", "bearer", ""])} ${"t".repeat(random.int(300))}`)
  if (random.next() < 0.5) headers.push(`Content-Type: ${random.pick(contentTypes)}`)
  const length = random.next()
  if (length < 0.7) headers.push(`Content-Length: ${Buffer.byteLength(body)}`)
  else if (length < 0.75) headers.push(`Content-Length: ${random.pick(["-1", "abc", "99999999999", "1, 2", String(Buffer.byteLength(body) + 5)])}`)
  else if (length < 0.8) headers.push("Transfer-Encoding: chunked")
  if (random.next() < 0.01) headers.push(`X-Long: ${"h".repeat(random.int(20_000))}`)
  if (random.next() < 0.03) headers.push("Broken header without a colon")
  if (random.next() < 0.03) headers.push(`X-Nul: a\u0000b`)
  return headers
}

const upgradeOf = (random: Random): string => {
  const path = random.pick(["/v1/readers", "/v1/federation", "/v1/federation?from=x", "/v1/federation?from=0&validator=%zz", "//[", "/nowhere", "/v1/readers?%"])
  const headers = [
    "Host: 127.0.0.1",
    `Upgrade: ${random.pick(["websocket", "WebSocket", "h2c", ""])}`,
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${random.pick(["dGhlIHNhbXBsZSBub25jZQ==", "short", ""])}`,
    `Sec-WebSocket-Version: ${random.pick(["13", "8", "x"])}`,
  ]
  if (random.next() < 0.5) headers.push(`Authorization: Bearer ${random.pick([tokenOf("bar-2"), "nope", ""])}`)
  return `GET ${path} HTTP/1.1\r\n${headers.join("\r\n")}\r\n\r\n`
}

/** One generated request, as the bytes to write. */
const requestOf = (random: Random): string => {
  const kind = random.next()
  if (kind < 0.08) return upgradeOf(random)
  if (kind < 0.14) {
    // A malformed request line or plain garbage.
    return random.pick([
      "GET //[ HTTP/1.1\r\nHost: x\r\n\r\n", "GET\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", "\r\n\r\n", "GET / HTTP/1.1\nHost: x\n\n",
      `${"A".repeat(random.int(20_000))}\r\n\r\n`, "GET /v1/health HTTP/1.1\r\nHost: x\r\n\u0000\r\n\r\n", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
    ])
  }
  const method = random.pick(methods)
  const size = random.next()
  // Mostly small bodies; now and then one around the 8 MiB bound, to be refused 413 declared or chunked.
  const body = size < 0.97 ? random.pick(bodies) : size < 0.999 ? "x".repeat(random.int(64 * 1024)) : "x".repeat(8 * 1024 * 1024 + random.int(1024))
  const headers = headersOf(random, body)
  const chunked = headers.includes("Transfer-Encoding: chunked")
  const encoded = chunked ? `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n` : body
  return `${method} ${targetOf(random)} HTTP/1.1\r\n${headers.join("\r\n")}\r\n\r\n${method === "GET" && random.next() < 0.7 ? "" : encoded}`
}

/** Writes `requests` on one connection in the generated style: all at once, byte by byte, or cut. */
const drive = (port: number, requests: readonly string[], style: number): Promise<void> =>
  new Promise((resolve) => {
    const socket: Socket = connect(port, "127.0.0.1")
    const done = () => {
      socket.destroy()
      resolve()
    }
    socket.on("error", done)
    socket.on("close", done)
    socket.on("data", () => undefined)
    socket.setTimeout(20_000, done)
    socket.on("connect", () => {
      const text = requests.join("")
      if (style < 0.9) {
        socket.write(text)
        socket.end()
      } else if (style < 0.95) {
        // Slow: a few bytes at a time, the first 4 KiB only (the node's own time limits are not
        // what this measures).
        let at = 0
        const step = () => {
          if (at >= Math.min(text.length, 4096) || socket.destroyed) return void socket.end()
          socket.write(text.slice(at, at + 7))
          at += 7
          setTimeout(step, 1)
        }
        step()
      } else {
        // Cut halfway.
        socket.write(text.slice(0, Math.floor(text.length / 2)), () => socket.destroy())
      }
    })
  })

let node: NodeProcess

beforeAll(async () => {
  node = await startNode()
}, 120_000)

afterAll(async () => {
  await node?.stop()
}, 120_000)

describe("the HTTP edge under generated requests", () => {
  it(`takes ${requestsTotal} generated requests and upgrades while a cash desk taps, answers every tap, and never exits`, async () => {
    console.log(`HTTP fuzz: seed ${seed} (replay with GESELL_FUZZ_SEED=${seed})`)
    const random = generator(seed)
    const desk = await ReaderClient.connect(node.ws, tokenOf("desk-1"))
    await desk.hello
    let fuzzing = true
    let taps = 0
    const answers: Record<string, number> = {}
    let unanswered = 0
    const tapping = (async () => {
      while (fuzzing) {
        // A top-up of 1 then a sale of 1 on the same card: every sale is covered.
        const card = blackBoxCards[Math.floor(taps / 2) % 50] as string
        const frame = taps % 2 === 0
          ? { type: "topup", id: `fuzz-${taps}`, card, amount: 1, asset: "raf-gift" }
          : { type: "sale", id: `fuzz-${taps}`, card, amount: 1 }
        // A node that died closes the desk's connection: the tap is then unanswered, and the test fails.
        const reply = await Promise.race([desk.request(frame), desk.closed.then(() => undefined)])
        if (reply === undefined) {
          unanswered++
          fuzzing = false
          break
        }
        const result = reply.ok === true ? "ok" : (reply.error?.code ?? "none")
        answers[result] = (answers[result] ?? 0) + 1
        taps++
      }
    })()
    let sent = 0
    let connections = 0
    const worker = async () => {
      while (sent < requestsTotal) {
        const batch = Array.from({ length: 1 + random.int(40) }, () => requestOf(random))
        sent += batch.length
        connections++
        await drive(node.port, batch, random.next())
      }
    }
    const workers = Promise.all(Array.from({ length: connectionsAtOnce }, worker))
    // The fuzzing stops early if the node dies: nothing left to learn.
    const died = new Promise<void>((resolve) => node.child.once("exit", () => resolve()))
    await Promise.race([workers, died])
    fuzzing = false
    await tapping
    console.log(`HTTP fuzz: ${sent} requests on ${connections} connections; ${taps} taps answered: ${JSON.stringify(answers)}`)
    expect(node.child.exitCode, `the node exited:\n${node.output().slice(-2000)}`).toBeNull()
    expect(unanswered, "taps left unanswered").toBe(0)
    expect(sent).toBeGreaterThanOrEqual(requestsTotal)
    expect(node.child.signalCode).toBeNull()
    // Every tap answered, and answered by the engine: none refused for an unavailable ledger.
    expect(Object.values(answers).reduce((a, b) => a + b, 0)).toBe(taps)
    expect(taps).toBeGreaterThan(0)
    expect(answers["unavailable"]).toBeUndefined()
    expect(await (await fetch(`${node.http}/v1/live`)).json()).toEqual({ ok: true })
    expect((await fetch(`${node.http}/v1/health`)).status).toBe(200)
    const metrics = await (await fetch(`${node.http}/metrics`)).text()
    console.log(`HTTP fuzz: ${metrics.split("\n").filter((line) => line.startsWith("gesell_defects_total")).join("; ") || "no defect"}`)
    desk.close()
  }, 600_000)
})
