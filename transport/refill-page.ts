/**
 * `/refill`: the page where a holder refills a card by its printed number (PROTOCOL.md section 9.5).
 * One static document, no outside resource: its script posts to `/v1/refills`, goes to Stripe
 * Checkout, and says what happened when Checkout sends the holder back.
 */

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string)

const euros = (cents: number): string => (cents / 100).toFixed(2)

export const refillPage = (federation: string, bounds: { readonly refillMin: number; readonly refillMax: number } | undefined): string => {
  const name = escapeHtml(federation)
  const form =
    bounds === undefined
      ? `<p role="status">Refills online are not available on this node.</p>`
      : `<form id="refill">
  <label for="card">Card number (printed on the card)</label>
  <input id="card" name="card" autocomplete="off" required maxlength="64">
  <label for="amount">Amount in euros (${euros(bounds.refillMin)} to ${euros(bounds.refillMax)})</label>
  <input id="amount" name="amount" type="number" inputmode="decimal" min="${euros(bounds.refillMin)}" max="${euros(bounds.refillMax)}" step="0.01" required>
  <button type="submit">Pay by card</button>
</form>`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Refill your card: ${name}</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 28rem; margin: 2rem auto; padding: 0 1rem; }
  label, input, button { display: block; width: 100%; margin-top: .5rem; font-size: 1.1rem; }
  button { margin-top: 1rem; padding: .6rem; }
  #message { margin-top: 1rem; font-weight: bold; }
</style>
</head>
<body>
<h1>Refill your card</h1>
<p>${name}</p>
${form}
<p id="message" role="status" aria-live="polite"></p>
<script>
const message = document.getElementById("message")
const params = new URLSearchParams(location.search)
if (params.has("session")) message.textContent = "Paid, thank you: your card is credited within a minute."
if (params.has("cancelled")) message.textContent = "Cancelled: nothing was charged."
const form = document.getElementById("refill")
if (form) form.addEventListener("submit", async (event) => {
  event.preventDefault()
  message.textContent = "…"
  const amount = Math.round(Number(form.amount.value) * 100)
  try {
    const response = await fetch("/v1/refills", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ card: form.card.value.trim(), amount }) })
    const body = await response.json()
    if (response.ok && body.url) location.assign(body.url)
    else message.textContent = body.error ? body.error.message : "The refill could not be started."
  } catch {
    message.textContent = "The node cannot be reached: nothing was charged."
  }
})
</script>
</body>
</html>
`
}
