/**
 * What an object keeps alive, for memory tests: a walk over everything reachable from a root
 * through properties (own and symbol-keyed; TypeScript's `private` fields are ordinary ones), array
 * items and Map / Set entries. Closures are opaque to JavaScript, so a value held only by a closure
 * is not seen: the tests using this pin data fields, which is where the stack keeps what it retains.
 */

/**
 * Objects reachable from `root` (itself included) for which `match` holds; the walk does not enter
 * `skip` (e.g. a fake transport that records every message sent) nor functions.
 */
export function reachable(root: unknown, match: (o: object) => boolean, skip: readonly object[] = []): object[] {
  const seen = new Set<object>(skip);
  const found: object[] = [];
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v);
    if (match(v)) found.push(v);
    // Buffers and typed arrays: their bytes hold no references.
    if (ArrayBuffer.isView(v)) continue;
    if (v instanceof Map) for (const [k, x] of v) stack.push(k, x);
    else if (v instanceof Set) for (const x of v) stack.push(x);
    for (const key of Reflect.ownKeys(v)) {
      const d = Object.getOwnPropertyDescriptor(v, key);
      if (d && 'value' in d) stack.push(d.value);
    }
  }
  return found;
}

/** A parsed SIP message (request or response) as the parser and `createResponse` build them. */
export function isParsedMessage(o: object): boolean {
  const kind = (o as { kind?: unknown }).kind;
  return (kind === 'request' || kind === 'response') && 'headers' in o;
}
