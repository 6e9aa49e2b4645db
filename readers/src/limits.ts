/**
 * Every bound of the reader hub, unit last. The protocol's own bounds (PROTOCOL.md section 3) are
 * repeated here rather than imported: the hub is its own package and talks to the node only through
 * the wire contract.
 */

/** Requests one connection may have in flight (the node answers `overloaded` beyond). */
export const inflightMax = 64
/** The largest frame the node accepts; a request longer than this is never sent. */
export const frameBytesMax = 4096
/** The largest reply the node sends (a card holds at most 64 assets, so every reply fits). */
export const replyBytesMax = 16_384
/** The same card again at this reader within this long is the same sale (a double tap). */
export const doubleTapMs = 1500
/** First and largest delay between connection attempts; doubled after each failure. */
export const reconnectDelayMsMin = 250
export const reconnectDelayMsMax = 10_000
/** First and largest delay before a request answered `overloaded` or `unavailable` is sent again. */
export const retryDelayMsMin = 200
export const retryDelayMsMax = 5_000
/** A connection that does not answer its upgrade within this long is dropped and tried again. */
export const handshakeTimeoutMs = 5_000
/** A ping every pingIntervalMs; a link silent for pongTimeoutMs is taken as dead (Wi-Fi that drops). */
export const pingIntervalMs = 5_000
export const pongTimeoutMs = 10_000
/** Requests in the journal without a reply; beyond, new taps are refused. */
export const journalPendingMax = 1024
/** The journal's size on disk; beyond (even after compaction), new taps are refused. */
export const journalBytesMax = 1024 * 1024
/** The journal is rewritten once it is this large and replies outnumber the requests still waiting. */
export const journalCompactBytesMin = 64 * 1024
/**
 * A request older than this is not sent again: the node remembers request ids for 24 hours
 * (PROTOCOL.md section 3), and a resend after that could be a second sale. An hour of margin.
 */
export const requestAgeMsMax = 23 * 60 * 60 * 1000
/** A tap still unanswered after this long gets a "waiting" line, so the bartender knows it is kept. */
export const waitingNoticeMs = 2_000
/** Amounts of the protocol: 1 to 10^12 minor units. */
export const amountMax = 1_000_000_000_000
