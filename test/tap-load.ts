/**
 * A load of reader taps for the failure tests: lanes of cash-desk top-ups and bar sales on the
 * black-box federation, one WebSocket connection per lane pipelining up to 64 requests, with every
 * request sent and its reply logged, so that a test can kill the node or its database in the middle
 * and then account for each tap: resend it, and rebuild the cards' balances from the replies.
 */
import { rmSync } from "node:fs"
import { blackBoxCards, freshDataDir, ReaderClient, startNode, tokenOf, type NodeProcess, type Reply, type StartOptions } from "./node-process.js"

/** What a tap asks, before it is given a request id. */
type TapFields = {
  readonly type: "sale" | "topup"
  readonly card: string
  readonly amount: number
  readonly asset?: string
}

export type TapFrame = TapFields & { readonly id: string }

/** One request as sent by one reader, and the reply it got on that connection (if any). */
export interface Tap {
  readonly reader: string
  readonly frame: TapFrame
  reply: Reply | undefined
}

/** A reader and the frames it sends, in order; `undefined` ends the lane. */
export interface Lane {
  readonly reader: string
  readonly next: () => TapFrame | undefined
}

/** A protocol error code of a reply, or undefined for a success. */
export const codeOf = (reply: Reply | undefined): string | undefined => reply?.error?.code

/** Codes that mean "not handled, retry the same request later" (PROTOCOL.md section 3). */
export const isRefusal = (reply: Reply | undefined): boolean => codeOf(reply) === "overloaded" || codeOf(reply) === "unavailable"

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `condition` until it holds; fails with `what` after `timeoutMs`. */
export const waitFor = async (what: string, condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> => {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    if (await condition()) return
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(10)
  }
}

export { within } from "./node-process.js"

/** A small deterministic generator (mulberry32): the same seed drives the same taps. */
const randomInts = (seed: number) => {
  let a = seed >>> 0
  return (min: number, max: number): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    const unit = ((t ^ (t >>> 14)) >>> 0) / 4294967296
    return min + Math.floor(unit * (max - min + 1))
  }
}

const cardOf = (index: number): string => blackBoxCards[index] as string

/**
 * The five lanes of the black-box federation: the Raffinerie's cash desk tops cards 0-59 up in
 * raf-eur or raf-gift and its two bars sell to them (some sales in raf-eur explicitly); Manapany's
 * desk and bar do the same with mana-gift on cards 40-99, so that cards 40-59 hold both places'
 * assets. Each lane sends at most `tapsMax` frames; `tag` keeps request ids unique across loads.
 */
export const festivalLanes = (tapsMax: number, tag: string): Lane[] => {
  const lane = (reader: string, seed: number, frame: (n: number, int: (min: number, max: number) => number) => TapFields): Lane => {
    const int = randomInts(seed)
    let n = 0
    return {
      reader,
      next: () => (n >= tapsMax ? undefined : { id: `${tag}-${reader}-${++n}`, ...frame(n, int) }),
    }
  }
  return [
    lane("desk-1", 1, (n, int) => ({ type: "topup", card: cardOf(int(0, 59)), amount: int(500, 2000), asset: n % 3 === 0 ? "raf-gift" : "raf-eur" })),
    lane("bar-1", 2, (_n, int) => ({ type: "sale", card: cardOf(int(0, 59)), amount: int(10, 400) })),
    lane("bar-2", 3, (n, int) => ({ type: "sale", card: cardOf(int(0, 59)), amount: int(10, 400), ...(n % 4 === 0 ? { asset: "raf-eur" } : {}) })),
    lane("mana-desk", 4, (_n, int) => ({ type: "topup", card: cardOf(int(40, 99)), amount: int(500, 2000), asset: "mana-gift" })),
    lane("mana-bar", 5, (_n, int) => ({ type: "sale", card: cardOf(int(40, 99)), amount: int(10, 400) })),
  ]
}

/** The cards the festival lanes tap. */
export const festivalCards = blackBoxCards.slice(0, 100)

export interface LoadOptions {
  /** Requests in flight per connection (the protocol allows 64). */
  readonly windowMax: number
  /** After a refusal, a lane waits this long before its next request, as a hub backs off. */
  readonly refusalPauseMs: number
}

/**
 * Drives lanes against a node and logs every tap. A lane ends when its frames run out, when
 * `stop()` is called (it sends nothing more, and waits for its replies) or when its connection
 * closes (a killed node: the taps still in flight stay without a reply).
 */
export class TapLoad {
  readonly taps: Tap[] = []
  readonly clients: ReaderClient[] = []
  private stopped = false
  private finished: Promise<void> = Promise.resolve()

  constructor(private readonly options: LoadOptions = { windowMax: 64, refusalPauseMs: 20 }) {}

  get answered(): number {
    return this.taps.filter((tap) => tap.reply !== undefined).length
  }

  get inflight(): number {
    return this.taps.length - this.answered
  }

  /** Taps that got `ok: true`. */
  acknowledged(): Tap[] {
    return this.taps.filter((tap) => tap.reply?.ok === true)
  }

  /** Connects one client per lane and starts them; `done()` resolves when every lane has ended. */
  async start(ws: string, lanes: readonly Lane[]): Promise<void> {
    const clients = await Promise.all(lanes.map((lane) => ReaderClient.connect(ws, tokenOf(lane.reader))))
    await Promise.all(clients.map((client) => client.hello))
    this.clients.push(...clients)
    this.finished = Promise.all(lanes.map((lane, i) => this.drive(clients[i] as ReaderClient, lane))).then(() => undefined)
  }

  /** Sends no more requests; resolves once every lane has its replies (or its connection closed). */
  stop(): Promise<void> {
    this.stopped = true
    return this.finished
  }

  done(): Promise<void> {
    return this.finished
  }

  close(): void {
    for (const client of this.clients) client.close()
  }

  private drive(client: ReaderClient, lane: Lane): Promise<void> {
    let inflight = 0
    let paused = false
    let refused = false
    let exhausted = false
    return new Promise((resolve, reject) => {
      client.closed.then(() => resolve(), () => resolve())
      const pump = (): void => {
        // After a refusal a hub probes with one request at a time until the node takes them again.
        while (!this.stopped && !paused && !exhausted && inflight < (refused ? 1 : this.options.windowMax)) {
          const frame = lane.next()
          if (frame === undefined) {
            exhausted = true
            break
          }
          const tap: Tap = { reader: lane.reader, frame, reply: undefined }
          this.taps.push(tap)
          inflight++
          client.request(frame).then((reply) => {
            tap.reply = reply
            inflight--
            refused = isRefusal(reply)
            if (refused && !paused) {
              paused = true
              setTimeout(() => ((paused = false), pump()), this.options.refusalPauseMs)
            }
            pump()
          }, reject)
        }
        if (inflight === 0 && (this.stopped || exhausted)) resolve()
      }
      pump()
    })
  }
}

/**
 * Resends frames as their readers (one new connection per reader, pipelined) and returns the replies
 * in the order of `taps`. Fails on a connection that closes before every reply came.
 */
export const resend = async (ws: string, taps: readonly Tap[], windowMax = 64): Promise<Reply[]> => {
  const replies: Array<Reply | undefined> = new Array(taps.length)
  const byReader = new Map<string, number[]>()
  taps.forEach((tap, index) => byReader.set(tap.reader, [...(byReader.get(tap.reader) ?? []), index]))
  await Promise.all(
    [...byReader].map(async ([reader, indexes]) => {
      const client = await ReaderClient.connect(ws, tokenOf(reader))
      await client.hello
      let next = 0
      let inflight = 0
      await new Promise<void>((resolve, reject) => {
        client.closed.then(({ code }) => reject(new Error(`${reader}'s connection closed with ${code} during the resend`)), reject)
        const pump = (): void => {
          while (inflight < windowMax && next < indexes.length) {
            const index = indexes[next++] as number
            inflight++
            client.request((taps[index] as Tap).frame).then((reply) => {
              replies[index] = reply
              inflight--
              pump()
            }, reject)
          }
          if (inflight === 0 && next === indexes.length) resolve()
        }
        pump()
      })
      client.close()
    }),
  )
  return replies as Reply[]
}

type Balances = Map<string, Map<string, number>>

const add = (balances: Balances, card: string, asset: string, amount: number): void => {
  const assets = balances.get(card) ?? new Map<string, number>()
  assets.set(asset, (assets.get(asset) ?? 0) + amount)
  balances.set(card, assets)
}

/**
 * Every card's balances rebuilt from the requests that ended ok: each top-up adds its amount of its
 * asset, each sale takes what its reply says it paid (which must add up to the sale's amount).
 * Sorted and without zeros, as a `check` reply lists them.
 */
export const balancesFromReplies = (ended: ReadonlyArray<{ frame: TapFrame; reply: Reply }>, cards: readonly string[]) => {
  const balances: Balances = new Map()
  for (const { frame, reply } of ended) {
    if (reply.ok !== true) continue
    if (frame.type === "topup") add(balances, frame.card, frame.asset as string, frame.amount)
    else {
      const paid = reply["paid"] as Array<{ asset: string; amount: number }>
      const total = paid.reduce((sum, leg) => sum + leg.amount, 0)
      if (total !== frame.amount) throw new Error(`sale ${frame.id} of ${frame.amount} paid ${total}`)
      for (const leg of paid) add(balances, frame.card, leg.asset, -leg.amount)
    }
  }
  return Object.fromEntries(
    cards.map((card) => [
      card,
      [...(balances.get(card) ?? new Map<string, number>())]
        .filter(([, amount]) => amount !== 0)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([asset, amount]) => ({ asset, amount })),
    ]),
  )
}

/** Every card's balances as the node answers a `check` from `reader`. */
export const checkedBalances = async (ws: string, cards: readonly string[], reader = "bar-1") => {
  const client = await ReaderClient.connect(ws, tokenOf(reader))
  await client.hello
  // In chunks, to stay within the 64 requests a connection may have in flight.
  const replies: Reply[] = []
  for (let start = 0; start < cards.length; start += 32) {
    const chunk = cards.slice(start, start + 32)
    replies.push(...(await Promise.all(chunk.map((card, i) => client.request({ type: "check", id: `final-check-${start + i}`, card })))))
  }
  client.close()
  return Object.fromEntries(
    replies.map((reply, i) => {
      if (reply.ok !== true) throw new Error(`check of ${cards[i]} answered ${JSON.stringify(reply)}`)
      return [cards[i] as string, reply["balances"]]
    }),
  )
}

/** GET /v1/health: its status and body. */
export const health = async (http: string): Promise<{ status: number; body: { ok?: boolean; height?: number; transactions?: number } }> => {
  const response = await fetch(`${http}/v1/health`)
  return { status: response.status, body: (await response.json()) as { ok?: boolean; height?: number } }
}

/**
 * The nodes and data dirs a suite starts, so that `cleanup()` (in afterEach) kills whatever is still
 * running, even after a failed assertion, and removes the temp dirs and genesis files.
 */
export const trackedNodes = () => {
  const nodes: NodeProcess[] = []
  const dirs = new Set<string>()
  return {
    dataDir(): string {
      const dir = freshDataDir()
      dirs.add(dir)
      return dir
    },
    async start(options: StartOptions & { readonly dataDir: string }): Promise<NodeProcess> {
      dirs.add(options.dataDir)
      const node = await startNode(options)
      nodes.push(node)
      return node
    },
    async cleanup(): Promise<void> {
      await Promise.all(nodes.splice(0).map((node) => node.kill()))
      for (const dir of dirs) {
        rmSync(dir, { recursive: true, force: true })
        rmSync(`${dir}-genesis.json`, { force: true })
      }
      dirs.clear()
    },
  }
}
