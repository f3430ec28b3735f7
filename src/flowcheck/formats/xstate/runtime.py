"""The TypeScript runtime every exported machine module imports (``flowcheck-runtime.ts``).

One module for what the typed modules have in common, so that a frontend can
re-export them all from one barrel without two modules exporting one name: the
expression helpers the generated guards and assigns call (with flowcheck's
evaluator semantics: missing fields read as ``null``, Python truthiness,
set-like ``append``), the reduction of an RPC rejection to its Connect code,
event narrowing, and the types every module shares (``RpcError``,
``TrackParams``, ``TrackSink``). It depends on no flow: every export writes the
same bytes.
"""

from __future__ import annotations

RUNTIME_FILE = "flowcheck-runtime.ts"
RUNTIME_MODULE = "./flowcheck-runtime"
"""How a machine module imports the runtime (both live in the export directory)."""

CONNECT_CODES = (
    "canceled", "unknown", "invalid_argument", "deadline_exceeded", "not_found",
    "already_exists", "permission_denied", "resource_exhausted", "failed_precondition",
    "aborted", "out_of_range", "unimplemented", "internal", "unavailable", "data_loss",
    "unauthenticated",
)
"""The Connect codes in the order of their numbers (``canceled`` is 1)."""

HELPERS: dict[str, str] = {
    "field": """\
/** Reads a dotted path; a missing part reads as null (flowcheck's semantics). */
export function field(value: unknown, ...path: readonly string[]): unknown {
  let current: unknown = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object' || !(key in current)) return null;
    current = (current as Record<string, unknown>)[key];
  }
  return current ?? null;
}""",
    "truthy": """\
/** Python truthiness: empty strings, arrays and objects, 0 and null are false. */
export function truthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (value !== null && typeof value === 'object') return Object.keys(value).length > 0;
  return Boolean(value);
}""",
    "nonempty": """\
export function nonempty(value: unknown): boolean {
  if (value === null || value === undefined || value === '') return false;
  return !(Array.isArray(value) && value.length === 0);
}""",
    "count": """\
export function count(value: unknown): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'string' || Array.isArray(value)) return value.length;
  throw new TypeError(`count() of ${JSON.stringify(value)}`);
}""",
    "equals": """\
export function equals(a: unknown, b: unknown): boolean {
  if ((a === null || a === undefined) && (b === null || b === undefined)) return true;
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => equals(x, b[i]));
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const ra = a as Record<string, unknown>;
    const rb = b as Record<string, unknown>;
    const keys = Object.keys(ra);
    return keys.length === Object.keys(rb).length &&
      keys.every((k) => k in rb && equals(ra[k], rb[k]));
  }
  return false;
}""",
    "compare": """\
export function compare(op: 'lt' | 'le' | 'gt' | 'ge', a: unknown, b: unknown): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return false;
  if (!((typeof a === 'number' && typeof b === 'number') ||
        (typeof a === 'string' && typeof b === 'string'))) {
    throw new TypeError(`cannot compare ${JSON.stringify(a)} with ${JSON.stringify(b)}`);
  }
  switch (op) {
    case 'lt': return a < b;
    case 'le': return a <= b;
    case 'gt': return a > b;
    default: return a >= b;
  }
}""",
    "includes": """\
export function includes(item: unknown, collection: unknown): boolean {
  if (collection === null || collection === undefined) return false;
  if (typeof collection === 'string') return typeof item === 'string' && collection.includes(item);
  if (Array.isArray(collection)) return collection.some((x) => equals(x, item));
  throw new TypeError(`'in' needs a list or a string, got ${JSON.stringify(collection)}`);
}""",
    "append": """\
/** ``seq`` plus ``item`` at the end unless already present. */
export function append<T>(seq: readonly T[] | null, item: T): T[] {
  const list = seq ?? [];
  return list.some((x) => equals(x, item)) ? [...list] : [...list, item];
}""",
    "remove": """\
export function remove<T>(seq: readonly T[] | null, item: T): T[] {
  return (seq ?? []).filter((x) => !equals(x, item));
}""",
    "add": """\
export function add(a: unknown, b: unknown): number {
  const x = a ?? 0;
  if (typeof x !== 'number' || typeof b !== 'number') {
    throw new TypeError(`add() of ${JSON.stringify(a)} and ${JSON.stringify(b)}`);
  }
  return x + b;
}""",
    "expect": """\
/** A value read as unknown, checked before it lands in a typed context field. */
export function expect<T>(value: unknown, check: (v: unknown) => v is T, what: string): T {
  if (!check(value)) throw new TypeError(`${what}: unexpected value ${JSON.stringify(value)}`);
  return value;
}""",
    "isEvent": """\
/** Narrows an event to the types listed (the events the chart delivers somewhere). */
export function isEvent<E extends { type: string }, T extends E['type']>(
  event: E,
  types: readonly T[]
): event is Extract<E, { type: T }> {
  return (types as readonly string[]).includes(event.type);
}""",
    "toRpcError": """\
/** The error an RPC actor rejects with, reduced to its Connect code. */
export function toRpcError(error: unknown): RpcError {
  const code = field(error, 'code');
  if (typeof code === 'string') return { code };
  if (typeof code === 'number' && code >= 1 && code <= CONNECT_CODES.length) {
    return { code: CONNECT_CODES[code - 1] ?? 'unknown' };
  }
  return { code: 'unknown' };
}""",
}
"""The runtime's functions by name, in the order the module lists them."""

_TYPES = """\
/** Connect codes as flowcheck names them, in the order of their numbers (connect-es
 * reports a code as a number: `canceled` is 1). */
export const CONNECT_CODES = [CODES] as const;

/** The error an RPC actor rejects with, reduced to its Connect code
 * (`xstate.error.actor.<id>` events carry it as `error`). */
export interface RpcError {
  code: string;
}

/** The analytics sink a machine calls for every `track` action. */
export type TrackSink = (event: string, properties: Record<string, unknown>) => void;

/** Params of the `track` action: literal properties plus copied context fields. */
export interface TrackParams<TContext> {
  event: string;
  properties: Readonly<Record<string, unknown>>;
  include: readonly (keyof TContext)[];
}"""

HEADER = """\
// Generated by flowcheck: the runtime every exported `<flow>.machine.ts` imports (the
// expression helpers of the generated guards and assigns, and the types the modules
// share). Do not edit: `flowcheck export` writes it with the machines, and
// `flowcheck export --check` fails in CI when it is stale.
"""


def render_runtime() -> str:
    """The text of ``flowcheck-runtime.ts``: the same for every chart."""
    codes = "[" + ", ".join(f"'{c}'" for c in CONNECT_CODES) + "]"
    parts = [HEADER.rstrip("\n"), _TYPES.replace("[CODES]", codes), *HELPERS.values()]
    return "\n\n".join(parts) + "\n"
