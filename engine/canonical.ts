// Canonical bytes of JSON values: the RFC 8785 (JCS) serialization that block hashes, Merkle
// leaves and signatures are computed over (PROTOCOL.md section 5).
//
// Failure is a value, not an exception: `canonicalJson` and `canonicalBytes` return
// `{ ok: true, value }` or `{ ok: false, reason, path }`, and no input makes them throw. A value
// that JSON cannot represent must never hash to the bytes of some other value, because every
// validator and peer has to agree on those bytes; so rather than let the `canonicalize` package
// (or JSON.stringify underneath it) quietly drop a function, turn a Map into `{}`, call a
// `toJSON`, or write `null` for an `undefined` array element, the value is first checked to be
// plain JSON data, and anything else is refused with the path where it was found.
//
// Accepted: null, booleans, finite numbers, well-formed strings, arrays whose prototype is
// Array.prototype, and objects whose prototype is Object.prototype or null, nested at most
// `nestingDepthMax` deep. An object property whose value is `undefined` is omitted, exactly as
// JSON.stringify omits it on the wire, so an object hashes the same before and after a JSON round
// trip. Symbol-keyed and non-enumerable properties are invisible to JSON and are ignored.
import canonicalize from "canonicalize"

/** Why a value has no canonical form; `path` says where (`$` is the value itself). */
export const CanonicalFailure = [
  "no_json_form", // undefined (outside an object property), a function, a symbol or a bigint
  "non_finite_number", // NaN or an infinity
  "lone_surrogate", // a string or property name that is not well-formed UTF-16
  "not_plain_data", // a Date, Map, typed array, class instance, boxed primitive...
  "cycle", // a container that contains itself
  "too_deep", // nesting beyond nestingDepthMax
  "unreadable", // a getter or proxy threw while the value was read
] as const
export type CanonicalFailure = (typeof CanonicalFailure)[number]

export type Canonical<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: CanonicalFailure; readonly path: string }

/** A fault found inside a value; `path` leads from that value to it and is built on the way back up. */
type Fault = { readonly reason: CanonicalFailure; readonly path: string }

/**
 * The deepest nesting accepted. A fixed bound rather than "whatever the call stack allows", so that
 * every node accepts and refuses exactly the same values; protocol documents nest under ten deep.
 */
export const nestingDepthMax = 128

const loneSurrogate = /\p{Cs}/u
const utf8 = new TextEncoder()

export function canonicalJson(value: unknown): Canonical<string> {
  try {
    const fault = findFault(value, 0, new Set())
    if (fault !== undefined) return { ok: false, reason: fault.reason, path: `$${fault.path}` }
    const text = canonicalize(value)
    // Unreachable once findFault passed; kept so that a change in the package cannot slip through.
    if (text === undefined) return { ok: false, reason: "no_json_form", path: "$" }
    return { ok: true, value: text }
  } catch {
    // Only a getter or a proxy trap can throw here: everything else was checked above.
    return { ok: false, reason: "unreadable", path: "$" }
  }
}

export function canonicalBytes(value: unknown): Canonical<Uint8Array> {
  const text = canonicalJson(value)
  return text.ok ? { ok: true, value: utf8.encode(text.value) } : text
}

function fail(reason: CanonicalFailure): Fault {
  return { reason, path: "" }
}

/** Paths are only built for the one fault reported, so that valid values cost no string work. */
function under(segment: string, fault: Fault): Fault {
  return { reason: fault.reason, path: segment + fault.path }
}

/** The first reason, depth first, why `value` is not plain JSON data; undefined if it is. */
function findFault(value: unknown, depth: number, ancestors: Set<object>): Fault | undefined {
  switch (typeof value) {
    case "boolean":
      return undefined
    case "number":
      return Number.isFinite(value) ? undefined : fail("non_finite_number")
    case "string":
      return loneSurrogate.test(value) ? fail("lone_surrogate") : undefined
    case "object":
      return value === null ? undefined : findContainerFault(value, depth, ancestors)
    default:
      return fail("no_json_form")
  }
}

function findContainerFault(container: object, depth: number, ancestors: Set<object>): Fault | undefined {
  if (ancestors.has(container)) return fail("cycle")
  if (depth >= nestingDepthMax) return fail("too_deep")
  // Only the path from the root is tracked, so a value shared by two siblings is not a cycle.
  ancestors.add(container)
  const fault = Array.isArray(container)
    ? findArrayFault(container, depth, ancestors)
    : findObjectFault(container, depth, ancestors)
  ancestors.delete(container)
  return fault
}

function findArrayFault(array: readonly unknown[], depth: number, ancestors: Set<object>): Fault | undefined {
  // A subclass could carry a toJSON that canonicalize would call.
  if (Object.getPrototypeOf(array) !== Array.prototype) return fail("not_plain_data")
  for (let index = 0; index < array.length; index++) {
    // A hole reads as undefined, and JSON would write both as null: refuse rather than guess.
    const fault = findFault(array[index], depth + 1, ancestors)
    if (fault !== undefined) return under(`[${index}]`, fault)
  }
  return undefined
}

function findObjectFault(object: object, depth: number, ancestors: Set<object>): Fault | undefined {
  const prototype: unknown = Object.getPrototypeOf(object)
  if (prototype !== Object.prototype && prototype !== null) return fail("not_plain_data")
  for (const [key, member] of Object.entries(object)) {
    const fault = findMemberFault(key, member, depth, ancestors)
    if (fault !== undefined) return under(`[${JSON.stringify(key)}]`, fault)
  }
  return undefined
}

function findMemberFault(key: string, member: unknown, depth: number, ancestors: Set<object>): Fault | undefined {
  if (loneSurrogate.test(key)) return fail("lone_surrogate")
  // Omitted, as JSON.stringify omits it on the wire (see the opening comment).
  if (member === undefined) return undefined
  return findFault(member, depth + 1, ancestors)
}
