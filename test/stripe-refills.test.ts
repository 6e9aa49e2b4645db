/**
 * Refills paid through Stripe (PROTOCOL.md section 9.5), black-box: a built node with Stripe's keys,
 * the real `stripe` library pointed at the local fake of its API (test/fake-stripe.ts), webhooks
 * signed by the library's own test header. Then a validator that checks payments with a restricted
 * key votes for a paid refill and rejects one Stripe never saw.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import Stripe from "stripe"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createFakeStripe, type FakeStripe } from "./fake-stripe.js"
import { Effect } from "effect"
import { Ledger } from "../storage/ledger.js"
import { pgliteLedger } from "../storage/pglite.js"
import { admin, blackBoxGenesis, finalSupply, freshDataDir, memberFetch, outputLine, runCli, startNode, within, type NodeProcess } from "./node-process.js"
import { genesisHashOf, nodeDataDir, startValidator, testKey, type FollowerProcess } from "./federation-process.js"

const processes: Array<FollowerProcess | NodeProcess> = []
const fakes: FakeStripe[] = []
afterAll(async () => {
  await Promise.all(processes.map((process) => process.kill()))
  await Promise.all(fakes.map((fake) => fake.close()))
})
const track = <P extends FollowerProcess | NodeProcess>(process: P): P => (processes.push(process), process)

const stripeEnv = (fake: FakeStripe) => ({
  STRIPE_SECRET_KEY: fake.secretKey,
  STRIPE_WEBHOOK_SECRET: fake.webhookSecret,
  STRIPE_API_URL: fake.url,
  GESELL_BLOCK_INTERVAL_MS: "20",
  // The tests stand behind a proxy on loopback: each request comes from the address they say.
  GESELL_TRUSTED_PROXIES: "127.0.0.1",
})

let clients = 0
/** A POST from a client address of its own (through the trusted proxy), unless one is given. */
const post = async (node: NodeProcess, path: string, body: unknown, from = `198.51.100.${++clients % 250}`) => {
  const headers = { "content-type": "application/json", "x-forwarded-for": from }
  const response = await fetch(`${node.http}${path}`, { method: "POST", headers, body: JSON.stringify(body) })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

/** A card as the node knows it: pseudonym, wallet and fed balance. */
const cardOf = async (node: NodeProcess, card: string) => {
  const found = (await admin(node, "POST", "/v1/admin/cards/find", { card })).body
  return { wallet: String(found["wallet"]), fed: ((found["balances"] as Record<string, number> | undefined)?.["fed"] ?? 0) }
}

/** Starts a refill through the public endpoint; answers the session's id at the fake. */
const startRefill = async (node: NodeProcess, card: string, amount: number): Promise<string> => {
  const answer = await post(node, "/v1/refills", { card, amount })
  expect(answer.status, JSON.stringify(answer.body)).toBe(200)
  const id = String(answer.body["url"]).split("/pay/")[1]
  if (id === undefined) throw new Error(`not a Checkout URL: ${String(answer.body["url"])}`)
  return id
}

const webhook = (node: NodeProcess) => `${node.http}/v1/stripe/webhook`

describe("refills paid through Stripe Checkout (PROTOCOL.md section 9.5)", () => {
  let stripe: FakeStripe
  let node: NodeProcess
  beforeAll(async () => {
    stripe = await createFakeStripe()
    fakes.push(stripe)
    node = track(await within("the node", startNode({ env: stripeEnv(stripe) }), 60_000))
  }, 90_000)

  it("starts a Checkout Session for a card's printed number: in eur, of the amount, its metadata the wallet's pseudonym and never the uid", async () => {
    const id = await startRefill(node, "N1", 2_000)
    const session = stripe.sessions.get(id)
    const { wallet } = await cardOf(node, "N1")
    expect(session).toMatchObject({ mode: "payment", currency: "eur", amount_total: 2_000, metadata: { wallet } })
    expect(wallet).toMatch(/^card:[0-9a-f]{32}$/)
    const uid = blackBoxGenesis.cards[0]?.uid as string
    expect(JSON.stringify(session)).not.toContain(uid)
    expect(session?.success_url).toContain("/refill?session={CHECKOUT_SESSION_ID}")
  })

  it("refuses an amount out of bounds, a number no card has and a blocked card, and creates nothing at Stripe", async () => {
    const before = stripe.sessions.size
    expect(await post(node, "/v1/refills", { card: "N1", amount: 499 })).toMatchObject({ status: 400, body: { error: { code: "amount_out_of_range", field: "amount" } } })
    expect(await post(node, "/v1/refills", { card: "N1", amount: 15_001 })).toMatchObject({ status: 400, body: { error: { code: "amount_out_of_range" } } })
    expect(await post(node, "/v1/refills", { card: "N1", amount: 1_000.5 })).toMatchObject({ status: 400 })
    expect(await post(node, "/v1/refills", { card: "NOPE", amount: 1_000 })).toMatchObject({ status: 404, body: { error: { code: "not_found" } } })
    expect((await admin(node, "POST", "/v1/admin/commands", { kind: "block", card: "N5", reason: "lost" })).status).toBe(200)
    expect(await post(node, "/v1/refills", { card: "N5", amount: 1_000 })).toMatchObject({ status: 400, body: { error: { code: "card_blocked" } } })
    expect(stripe.sessions.size).toBe(before)
  })

  it("commits one refill per paid session, however many deliveries: 10 at once, then 100 more", async () => {
    const before = await cardOf(node, "N2")
    const id = await startRefill(node, "N2", 2_500)
    const paid = stripe.pay(id)
    const concurrent = await Promise.all(Array.from({ length: 10 }, () => stripe.deliver(webhook(node), paid)))
    expect(concurrent.map((answer) => answer.status)).toEqual(Array.from({ length: 10 }, () => 200))
    for (let i = 0; i < 100; i++) expect((await stripe.deliver(webhook(node), paid)).status).toBe(200)
    expect((await cardOf(node, "N2")).fed).toBe(before.fed + 2_500)
  }, 60_000)

  it("waits for a delayed payment, whatever the order of its events; a failed one refills nothing", async () => {
    const before = await cardOf(node, "N3")
    const late = await startRefill(node, "N3", 1_000)
    const completed = stripe.pay(late, { async: true })
    const succeeded = stripe.settle(late, true)
    // Stripe does not promise an order: the success first, then the completion (unpaid in its object).
    expect(await stripe.deliver(webhook(node), succeeded)).toMatchObject({ status: 200 })
    expect(await stripe.deliver(webhook(node), completed)).toMatchObject({ status: 200 })
    expect((await cardOf(node, "N3")).fed).toBe(before.fed + 1_000)

    const failing = await startRefill(node, "N3", 700)
    const unpaid = stripe.pay(failing, { async: true })
    expect(JSON.parse((await stripe.deliver(webhook(node), unpaid)).body)).toMatchObject({ code: "waiting" })
    expect(JSON.parse((await stripe.deliver(webhook(node), stripe.settle(failing, false))).body)).toMatchObject({ code: "ignored" })
    expect((await cardOf(node, "N3")).fed).toBe(before.fed + 1_000)
  })

  it("refuses a forged or stale signature with 400 and applies nothing", async () => {
    const before = await cardOf(node, "N4")
    const id = await startRefill(node, "N4", 900)
    const paid = stripe.pay(id)
    const forged = await stripe.deliver(webhook(node), paid, { secret: "whsec_not_the_one" })
    expect(forged.status).toBe(400)
    expect(JSON.parse(forged.body)).toMatchObject({ ok: false, error: { code: "bad_signature" } })
    const stale = await stripe.deliver(webhook(node), paid, { timestamp: Math.floor(Date.now() / 1000) - 600 })
    expect(stale.status).toBe(400)
    expect((await stripe.deliver(webhook(node), paid, { signature: "t=1,v1=00" })).status).toBe(400)
    expect((await cardOf(node, "N4")).fed).toBe(before.fed)
    // The same event, signed: applied once.
    expect((await stripe.deliver(webhook(node), paid)).status).toBe(200)
    expect((await cardOf(node, "N4")).fed).toBe(before.fed + 900)
  })

  it("refunds through Stripe a session paid for a card voided meanwhile, once however many deliveries", async () => {
    const id = await startRefill(node, "N6", 1_200)
    expect((await admin(node, "POST", "/v1/admin/commands", { kind: "void", card: "N6", reason: "voided" })).status).toBe(200)
    const paid = stripe.pay(id)
    const answers = await Promise.all([stripe.deliver(webhook(node), paid), stripe.deliver(webhook(node), paid)])
    expect(answers.map((answer) => JSON.parse(answer.body) as { code: string })).toMatchObject([{ code: "refunded" }, { code: "refunded" }])
    const refunds = stripe.requests.filter((request) => request.method === "POST" && request.path === "/v1/refunds")
    expect(new Set(refunds.map((request) => request.idempotencyKey)).size).toBe(1)
    expect((await cardOf(node, "N6")).fed).toBe(0)
  })

  it("says when Stripe cannot be reached, and nothing is half-done", async () => {
    const before = stripe.sessions.size
    stripe.unreachable(true)
    try {
      const answer = await post(node, "/v1/refills", { card: "N7", amount: 1_000 })
      expect(answer).toMatchObject({ status: 503, body: { error: { code: "unavailable" } } })
      expect(String((answer.body["error"] as { message: string }).message)).toMatch(/nothing was charged/)
    } finally {
      stripe.unreachable(false)
    }
    expect(stripe.sessions.size).toBe(before)
  })

  it("limits refills of one card: the sixth in ten minutes is refused 429", async () => {
    for (let i = 0; i < 5; i++) await startRefill(node, "N8", 1_000)
    const sixth = await post(node, "/v1/refills", { card: "N8", amount: 1_000 })
    expect(sixth).toMatchObject({ status: 429, body: { error: { code: "rate_limited" } } })
    expect(JSON.stringify(sixth.body)).toMatch(/of one card/)
  })

  it("limits refills from one client address, the one the trusted proxy names: the eleventh in a minute is refused 429, refused ones counted too", async () => {
    // The client wrote a first address itself: only the last one the proxy appended counts.
    const from = (i: number) => `192.0.2.${i}, 203.0.113.50`
    for (let i = 0; i < 10; i++) expect((await post(node, "/v1/refills", { card: "N1", amount: 1 }, from(i))).status).toBe(400)
    const eleventh = await post(node, "/v1/refills", { card: "N1", amount: 1_000 }, from(99))
    expect(eleventh).toMatchObject({ status: 429, body: { error: { code: "rate_limited" } } })
    expect(JSON.stringify(eleventh.body)).toMatch(/from one address/)
    expect((await post(node, "/v1/refills", { card: "N1", amount: 1_000 }, "203.0.113.51")).status).toBe(200)
  })

  it("serves the refill page, and no uid or secret reaches the node's output", async () => {
    const page = await fetch(`${node.http}/refill`)
    expect(page.status).toBe(200)
    expect(page.headers.get("content-type")).toMatch(/text\/html/)
    const html = await page.text()
    expect(html).toMatch(/<label for="card">/)
    expect(html).toContain("Black box")
    for (const secret of [stripe.secretKey, stripe.webhookSecret, ...blackBoxGenesis.cards.map((card) => card.uid)]) expect(node.output()).not.toContain(secret)
  })
})

describe("online refunds of fed through Stripe (PROTOCOL.md section 9.5)", () => {
  let stripe: FakeStripe
  let node: NodeProcess
  // The node is the federation's one validator: its blocks are final, and the supply counts them.
  const nodeKey = testKey(33)
  const genesis = { ...blackBoxGenesis, validators: { keys: [nodeKey.id], threshold: 1 } }
  beforeAll(async () => {
    stripe = await createFakeStripe()
    fakes.push(stripe)
    node = track(await within("the node", startNode({ genesis, dataDir: nodeDataDir(nodeKey.seed), env: stripeEnv(stripe) }), 60_000))
  }, 90_000)

  /** A card refilled through Checkout and the webhook: the session's id. */
  const refilled = async (card: string, amount: number): Promise<string> => {
    const id = await startRefill(node, card, amount)
    expect((await stripe.deliver(webhook(node), stripe.pay(id))).status).toBe(200)
    return id
  }
  const refundsAtStripe = () => stripe.requests.filter((request) => request.method === "POST" && request.path === "/v1/refunds" && !request.dropped)
  const fedEuros = async () => (await finalSupply(node.http)).assets.find((asset) => asset.asset === "fed")

  it("refunds what is left of a payment once some was spent, burns it, and counts it refunded", async () => {
    const id = await refilled("N20", 2_000)
    expect((await admin(node, "POST", "/v1/admin/commands", { kind: "sale", place: "raffinerie", card: "N20", amount: 500 })).status).toBe(200)
    const before = await fedEuros()
    const answer = await admin(node, "POST", "/v1/admin/refunds", { card: "N20" })
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({ parts: [{ payment: id, amount: 1_500, status: "refunded", refund: expect.stringMatching(/^re_/) }], left: 0 })
    expect((await cardOf(node, "N20")).fed).toBe(0)
    const after = await fedEuros()
    expect(after?.euros?.["refunded"]).toBe((before?.euros?.["refunded"] ?? 0) + 1_500)
    expect(after?.circulation).toBe((before?.circulation ?? 0) - 1_500)
    // Nothing left to refund: a second ask refunds nothing more.
    expect((await admin(node, "POST", "/v1/admin/refunds", { card: "N20" })).body).toMatchObject({ parts: [], left: 0 })
    expect(refundsAtStripe().filter((request) => request.idempotencyKey?.startsWith("gesell-refund-"))).toHaveLength(1)
  })

  it("puts the fed back on the card when Stripe refuses the refund, and may ask again", async () => {
    const id = await refilled("N21", 1_000)
    stripe.failNextRefund()
    expect((await admin(node, "POST", "/v1/admin/refunds", { card: "N21" })).body).toMatchObject({ parts: [{ payment: id, amount: 1_000, status: "restored" }] })
    expect((await cardOf(node, "N21")).fed).toBe(1_000)
    expect((await admin(node, "POST", "/v1/admin/refunds", { card: "N21" })).body).toMatchObject({ parts: [{ payment: id, status: "refunded" }] })
    expect((await cardOf(node, "N21")).fed).toBe(0)
  })

  it("lets a holder refund with the card's number and a receipt, and tells nothing to someone without the right receipt", async () => {
    const mine = await refilled("N22", 1_200)
    const theirs = await refilled("N23", 1_300)
    const wrong = [
      await post(node, "/v1/refunds", { card: "N22", receipt: theirs }),
      await post(node, "/v1/refunds", { card: "N22", receipt: "cs_test_made_up" }),
      await post(node, "/v1/refunds", { card: "N24", receipt: mine }),
    ]
    for (const answer of wrong) expect(answer).toMatchObject({ status: 404, body: { error: { code: "not_found", message: "no payment with this receipt for this card" } } })
    expect(await post(node, "/v1/refunds", { card: "N22", receipt: mine })).toMatchObject({ status: 200, body: { parts: [{ payment: mine, amount: 1_200, status: "refunded" }] } })
    expect((await cardOf(node, "N23")).fed).toBe(1_300)
  })

  it("keeps a refund Stripe could not be asked for pending, and finishes it after a restart, refunding once", async () => {
    const id = await refilled("N25", 900)
    stripe.unreachable(true)
    try {
      expect((await admin(node, "POST", "/v1/admin/refunds", { card: "N25" })).body).toMatchObject({ parts: [{ payment: id, amount: 900, status: "pending" }] })
    } finally {
      stripe.unreachable(false)
    }
    // Out of the card, waiting in fund:refunds: not spendable, not refunded yet.
    expect((await cardOf(node, "N25")).fed).toBe(0)
    const wallet = async () => (await admin(node, "GET", "/v1/admin/wallets/fund:refunds")).body as { balances?: Record<string, number> }
    expect((await wallet()).balances?.["fed"]).toBe(900)
    await node.kill()
    node = track(await within("the node again", startNode({ genesis, dataDir: node.dataDir, env: stripeEnv(stripe) }), 60_000))
    await within(
      "the pending refund finished",
      (async () => {
        while (((await wallet()).balances?.["fed"] ?? 0) !== 0) await new Promise((resolve) => setTimeout(resolve, 100))
      })(),
      30_000,
    )
    // Stripe's own books: one refund of 900, however many times it was asked for.
    const books = new Stripe(stripe.secretKey, { host: "127.0.0.1", port: stripe.port, protocol: "http", maxNetworkRetries: 0 })
    const refunds = await books.balanceTransactions.list({ type: "refund", limit: 100 })
    expect(refunds.data.filter((entry) => entry.amount === -900)).toHaveLength(1)
    expect((await fedEuros())?.euros?.["refunded"]).toBe(1_500 + 1_000 + 1_200 + 900)
  }, 120_000)

  it("passes gesell check: fed in circulation is what was received less what was refunded; a counter changed in storage fails it", async () => {
    await node.stop()
    const passed = await runCli(["check", "--data-dir", node.dataDir])
    expect(passed.code, passed.output).toBe(0)
    expect(passed.output).toMatch(/fed in circulation is what was received less what was refunded and paid out/)
    // The refunded counter as a careless hand might leave it in the database.
    await Effect.runPromise(
      Effect.gen(function* () {
        const store = yield* Ledger
        const { backing } = yield* store.load(0)
        yield* store.commit({ txs: [], replies: [], wallets: [], cards: [], backing: { ...backing, refunded: backing.refunded - 900 } })
      }).pipe(Effect.provide(pgliteLedger(join(node.dataDir, "pglite"))), Effect.scoped),
    )
    const failed = await runCli(["check", "--data-dir", node.dataDir])
    expect(failed.code).toBe(1)
    expect(failed.output).toMatch(/backing: the transactions say refunded 4600, storage holds 3700/)
  }, 60_000)
})

describe("a validator checking payments with Stripe (--stripe-key-file)", () => {
  const [node1, checker] = [testKey(31), testKey(32)] as const

  it("votes for a refill Stripe says is paid, and rejects one Stripe never saw, with its reason", async () => {
    const stripe = await createFakeStripe()
    fakes.push(stripe)
    const genesis = { ...blackBoxGenesis, validators: { keys: [node1.id, checker.id], threshold: 1, paymentCheckers: [checker.id] } }
    const node = track(await within("the node", startNode({ genesis, dataDir: nodeDataDir(node1.seed), env: stripeEnv(stripe) }), 60_000))
    const genesisHash = await genesisHashOf(node)
    const keyFile = join(freshDataDir(), "stripe-key")
    writeFileSync(keyFile, `${stripe.restrictedKey}\n`, { mode: 0o600 })
    const validator = track(
      await within("the checker", startValidator({ engine: node.http, key: checker.seed, genesisHash, stripeKeyFile: keyFile, env: { STRIPE_API_URL: stripe.url } }), 60_000),
    )
    expect(validator.output()).toMatch(/Payments: refills and refunds are checked with Stripe\./)
    expect(validator.output()).not.toContain(stripe.restrictedKey)

    const id = await startRefill(node, "N1", 3_000)
    expect((await stripe.deliver(webhook(node), stripe.pay(id))).status).toBe(200)
    const finalRefills = async () => {
      const blocks = (await (await memberFetch(node.http, "/v1/blocks?from=1&limit=1000")).json()) as { blocks: Array<{ txs: Array<{ kind: string; ref?: string }>; signatures: Array<{ validator: string }> }> }
      return blocks.blocks.flatMap((block) => block.txs.filter((tx) => tx.kind === "refill").map((tx) => ({ ref: tx.ref, signers: block.signatures.map((s) => s.validator) })))
    }
    await within(
      "the paid refill final",
      (async () => {
        while (!(await finalRefills()).some((refill) => refill.ref === id)) await new Promise((resolve) => setTimeout(resolve, 100))
      })(),
      30_000,
    )
    expect((await finalRefills()).find((refill) => refill.ref === id)?.signers).toContain(checker.id)
    expect(stripe.requests.some((request) => request.method === "GET" && request.path === `/v1/checkout/sessions/${id}`)).toBe(true)

    // An operator's refill naming a session Stripe never made: the engine takes it, the checker does not.
    const forged = await admin(node, "POST", "/v1/admin/commands", { kind: "refill", wallet: "card:N2", amount: 5_000, ref: "cs_test_never_made" })
    expect(forged.body).toMatchObject({ ok: true })
    const line = await within("the checker's reject", outputLine(node, `validator ${checker.id} rejected block`), 30_000)
    expect(line).toMatch(/payment: refill \S+: no Checkout Session cs_test_never_made at Stripe/)
    expect((await finalRefills()).some((refill) => refill.ref === "cs_test_never_made")).toBe(false)
  }, 180_000)
})
