/** The OpenAPI 3.1 document of the HTTP API, served at /v1/openapi.json. */
const error = { $ref: "#/components/schemas/Error" }
const jsonBody = (schema: object) => ({ required: true, content: { "application/json": { schema } } })
const ok = (description: string, schema: object = { type: "object" }) => ({
  200: { description, content: { "application/json": { schema } } },
})
const adminErrors = {
  400: { description: "a field is missing or invalid; `error.field` names it", content: { "application/json": { schema: error } } },
  401: { description: "missing or wrong admin token", content: { "application/json": { schema: error } } },
  503: { description: "storage cannot be written right now", content: { "application/json": { schema: error } } },
}
const admin = { security: [{ admin: [] }] }

export const openApiDocument = {
  openapi: "3.1.0",
  info: { title: "Gesell node", version: "1", description: "Health, supply, metrics and operator endpoints. Readers use the WebSocket /v1/readers (PROTOCOL.md section 3)." },
  components: {
    securitySchemes: { admin: { type: "http", scheme: "bearer", description: "the admin token (GESELL_ADMIN_TOKEN)" } },
    schemas: {
      Error: { type: "object", properties: { ok: { const: false }, error: { type: "object", properties: { code: { type: "string" }, message: { type: "string" }, field: { type: "string" } } } } },
      Place: { type: "object", required: ["id", "name", "accepts"], properties: { id: { type: "string", pattern: "^[a-z0-9][a-z0-9-]{0,62}$" }, name: { type: "string" }, accepts: { type: "array", items: { type: "string" } } } },
      Asset: {
        type: "object",
        required: ["id", "kind", "name"],
        properties: {
          id: { type: "string", pattern: "^[a-z0-9][a-z0-9-]{0,62}$" },
          kind: { enum: ["fed", "local_fiat", "gift", "time", "loyalty", "membership"] },
          name: { type: "string" },
          issuer: { type: "string" },
          demurrage: { type: "object", description: "{idleMs, periodMs, rule: {kind: percent|fixed|all, basisPoints|amount}, shares: {place, fund, maintenance}}" },
          exchange: { type: "object", description: "{fed, local}: `local` units are worth `fed` units" },
        },
      },
    },
  },
  paths: {
    "/v1/health": { get: { summary: "whether the ledger can commit", responses: { ...ok("ready", { type: "object", properties: { ok: { const: true }, height: { type: "integer", description: "the last final block (-1: none yet)" }, transactions: { type: "integer", description: "the last committed transaction's seq" } } }), 503: { description: "the ledger cannot commit" } } } },
    "/v1/supply": { get: { summary: "amount in circulation per asset; for fed, the euros received, refunded and paid out", responses: ok("supply") } },
    "/v1/blocks": {
      get: {
        summary: "final blocks from height `from` (default 0), at most `limit` (1..1000, default 100), and at most 50,000 transactions per page",
        parameters: [
          { name: "from", in: "query", schema: { type: "integer", minimum: 0 } },
          { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 1000 } },
        ],
        responses: { ...ok("{blocks: [{header, txs, signatures}]}"), 400: { description: "bad from or limit" } },
      },
    },
    "/v1/blocks/{height}": {
      get: {
        summary: "one final block",
        parameters: [{ name: "height", in: "path", required: true, schema: { type: "integer", minimum: 0 } }],
        responses: { ...ok("{header, txs, signatures}"), 404: { description: "no final block at this height yet" } },
      },
    },
    "/metrics": { get: { summary: "Prometheus text exposition", responses: { 200: { description: "metrics", content: { "text/plain": {} } } } } },
    "/v1/admin/places": { post: { ...admin, summary: "create or replace a place", requestBody: jsonBody({ $ref: "#/components/schemas/Place" }), responses: { ...ok("the place"), ...adminErrors } } },
    "/v1/admin/assets": { post: { ...admin, summary: "create or replace an asset", requestBody: jsonBody({ $ref: "#/components/schemas/Asset" }), responses: { ...ok("the asset"), ...adminErrors } } },
    "/v1/admin/readers": {
      post: {
        ...admin,
        summary: "create a reader; its token is in this answer only, and only its SHA-256 is stored",
        requestBody: jsonBody({ type: "object", required: ["id", "place", "role"], properties: { id: { type: "string" }, place: { type: "string" }, role: { enum: ["bar", "cashdesk"] } } }),
        responses: { ...ok("the reader and its token", { type: "object", properties: { id: { type: "string" }, place: { type: "string" }, role: { type: "string" }, token: { type: "string" } } }), ...adminErrors },
      },
    },
    "/v1/admin/readers/{id}": { delete: { ...admin, summary: "revoke a reader's token; its open connections are closed", parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }], responses: { ...ok("revoked"), ...adminErrors } } },
    "/v1/admin/cards": {
      post: {
        ...admin,
        summary: "import cards: JSON {cards:[{uid, number}]} or text/csv lines uid,number (a header line is skipped); known uids are left as they are",
        requestBody: {
          required: true,
          content: {
            "application/json": { schema: { type: "object", properties: { cards: { type: "array", items: { type: "object", properties: { uid: { type: "string" }, number: { type: "string" } } } } } } },
            "text/csv": { schema: { type: "string" } },
          },
        },
        responses: { ...ok("counts", { type: "object", properties: { added: { type: "integer" }, known: { type: "integer" } } }), ...adminErrors },
      },
    },
    "/v1/admin/commands": { post: { ...admin, summary: "run an operator command of the engine (mint, refill, deposit, transfer, fusion, subscribe, exchange, demurrage, void); answers once committed", requestBody: jsonBody({ type: "object", required: ["kind"] }), responses: { ...ok("the outcome: {ok, status, tx} or {ok:false, status, message, field}"), ...adminErrors } } },
    "/v1/admin/wallets/{id}": { get: { ...admin, summary: "a wallet's balances, memberships and last activity", parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }], responses: { ...ok("the wallet"), 404: { description: "no such wallet" } } } },
  },
} as const
