/**
 * Shared pieces of the fuzz suites (packages/pki, apps/server and apps/cli test/fuzz.test.ts):
 * the oracle every parser is held to, byte mutations of valid artifacts, and structured random
 * DER. `npm test` runs a few thousand cases from a fixed seed; `npm run fuzz` multiplies every
 * numRuns by FUZZ_RUNS (and FUZZ_SEED changes the seed) to search further.
 */
import fc from 'fast-check';

/** How many times more cases than the default `npm test` budget (npm run fuzz sets it). */
export const FUZZ_RUNS = Math.max(1, Number(process.env.FUZZ_RUNS ?? 1) || 1);
const BASE_SEED = Number(process.env.FUZZ_SEED ?? 0x5eed_a11) | 0;

/** A parse that takes longer than this on one input counts as a hang. */
// Generous: this catches hangs and quadratic blow-ups (minutes), not speed; a loaded CI machine
// took 2.3 s for a 16 MiB hostile PEM that reads in 250 ms when idle.
export const PARSE_TIME_LIMIT_MS = 10_000;

/**
 * fast-check parameters for one property: a seed of its own (derived from the name, so adding a
 * property does not reshuffle the others) and the default run count scaled by FUZZ_RUNS.
 */
export function fuzzParams(name: string, numRuns: number): { seed: number; numRuns: number } {
  let h = BASE_SEED;
  for (const ch of name) h = (Math.imul(h, 31) + ch.charCodeAt(0)) | 0;
  return { seed: h, numRuns: numRuns * FUZZ_RUNS };
}

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * Messages that mean a JS failure inside the parser leaked through, even when a catch-all
 * wrapped it in the module's own error class: the reader would be shown a stack overflow or a
 * TypeError text instead of what is wrong with the input.
 */
const LEAKED =
  /Maximum call stack|Cannot read propert|is not a function|is not iterable|Invalid code point|Invalid array length|out of range|undefined \(reading/i;

/**
 * The oracle: `fn(input)` returns or throws one of `allowed`, with a message about the input,
 * within PARSE_TIME_LIMIT_MS. Throws a description of the breach otherwise (fast-check then
 * shrinks the input and reports the seed and path).
 */
export function ownErrorsOnly<T>(what: string, allowed: readonly ErrorClass[], fn: () => T): T | undefined {
  const started = performance.now();
  try {
    const result = fn();
    checkOutcome(what, allowed, performance.now() - started, undefined);
    return result;
  } catch (e) {
    checkOutcome(what, allowed, performance.now() - started, e ?? new Error('threw undefined'));
    return undefined;
  }
}

/** Async twin of ownErrorsOnly, for builders that return promises. */
export async function ownErrorsOnlyAsync<T>(what: string, allowed: readonly ErrorClass[], fn: () => Promise<T>): Promise<T | undefined> {
  const started = performance.now();
  try {
    const result = await fn();
    checkOutcome(what, allowed, performance.now() - started, undefined);
    return result;
  } catch (e) {
    checkOutcome(what, allowed, performance.now() - started, e ?? new Error('threw undefined'));
    return undefined;
  }
}

class OracleBreach extends Error {}

function checkOutcome(what: string, allowed: readonly ErrorClass[], ms: number, thrown: unknown): void {
  if (thrown instanceof OracleBreach) throw thrown;
  if (ms > PARSE_TIME_LIMIT_MS) throw new OracleBreach(`${what} took ${ms.toFixed(0)} ms on one input (limit ${PARSE_TIME_LIMIT_MS} ms)`);
  if (thrown === undefined) return;
  const e = thrown as Error;
  if (!allowed.some((c) => thrown instanceof c)) {
    throw new OracleBreach(`${what} threw a foreign ${e?.constructor?.name ?? typeof thrown}: ${e?.message ?? String(thrown)}`);
  }
  if (LEAKED.test(e.message)) throw new OracleBreach(`${what} threw ${e.constructor.name} carrying an internal failure: ${e.message}`);
}

// ---- mutations of valid artifacts -----------------------------------------------------------

/**
 * Offsets of every TLV header in `der`, found by a lenient iterative walk (no recursion, so a
 * deep input cannot overflow the test's own stack). Mutations aim at these: the length octets
 * are where DER readers most often go wrong.
 */
export function headerOffsets(der: Uint8Array): number[] {
  const out: number[] = [];
  const stack: Array<[number, number]> = [[0, der.length]];
  while (stack.length) {
    const [from, to] = stack.pop()!;
    for (let p = from; p + 2 <= to; ) {
      const tag = der[p];
      let len = der[p + 1];
      let q = p + 2;
      if (len & 0x80) {
        const n = len & 0x7f;
        if (n === 0 || n > 4 || q + n > to) break;
        len = 0;
        for (let i = 0; i < n; i++) len = len * 256 + der[q + i];
        q += n;
      }
      if (q + len > to) break;
      out.push(p);
      // constructed, or an OCTET STRING / BIT STRING that wraps DER (extension values, keys)
      if (tag & 0x20) stack.push([q, q + len]);
      else if (tag === 0x04) stack.push([q, q + len]);
      else if (tag === 0x03 && len > 1) stack.push([q + 1, q + len]);
      p = q + len;
    }
  }
  return out;
}

/** Length octets that break a header in the ways a hostile peer would. */
const BAD_LENGTHS: readonly number[][] = [
  [0x80], // indefinite (BER)
  [0x84, 0xff, 0xff, 0xff, 0xff], // 4 GiB
  [0x84, 0x7f, 0xff, 0xff, 0xff],
  [0x88, 0, 0, 0, 0, 0, 0, 0, 1], // more length octets than any reader takes
  [0xff], // reserved
  [0x81, 0x01], // non-minimal
  [0x82, 0x00, 0x05], // non-minimal, leading zero
  [0x00],
  [0x7f],
];

export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'length'; header: number; replacement: number; delta: number }
  | { kind: 'duplicate'; from: number; count: number; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  // weighted up: corrupting a declared length is the most productive single mutation
  {
    arbitrary: fc.record({
      kind: fc.constant('length' as const),
      header: fc.nat(),
      replacement: fc.integer({ min: -1, max: BAD_LENGTHS.length - 1 }),
      delta: fc.integer({ min: -3, max: 3 }),
    }),
    weight: 3,
  },
  fc.record({ kind: fc.constant('duplicate' as const), from: fc.nat(), count: fc.integer({ min: 1, max: 64 }), at: fc.nat() }),
);

/** Applies `m` to a copy of `der` (positions wrap modulo the length, so any m fits any input). */
export function applyMutation(der: Uint8Array, m: Mutation): Uint8Array {
  const b = Array.from(der);
  if (b.length === 0) return m.kind === 'insert' ? Uint8Array.from(m.bytes) : new Uint8Array(0);
  const at = (n: number) => n % b.length;
  switch (m.kind) {
    case 'flip':
      b[at(m.at)] ^= 1 << m.bit;
      break;
    case 'set':
      b[at(m.at)] = m.value;
      break;
    case 'insert':
      b.splice(m.at % (b.length + 1), 0, ...m.bytes);
      break;
    case 'delete':
      b.splice(at(m.at), m.count);
      break;
    case 'truncate':
      b.length = at(m.at);
      break;
    case 'length': {
      const headers = headerOffsets(der);
      if (headers.length === 0) break;
      const h = headers[m.header % headers.length];
      const first = b[h + 1];
      const oldLengthOctets = first & 0x80 ? 1 + (first & 0x7f) : 1;
      let replacement: number[];
      if (m.replacement >= 0) replacement = BAD_LENGTHS[m.replacement];
      else {
        // a plausible but wrong length: off by a few octets in either direction
        let len = 0;
        for (let i = 1; i < oldLengthOctets; i++) len = len * 256 + b[h + 1 + i];
        if (oldLengthOctets === 1) len = first;
        len = Math.max(0, len + m.delta);
        replacement = len < 0x80 ? [len] : len < 0x100 ? [0x81, len] : [0x82, len >> 8, len & 0xff];
      }
      b.splice(h + 1, oldLengthOctets, ...replacement);
      break;
    }
    case 'duplicate': {
      const from = at(m.from);
      b.splice(m.at % (b.length + 1), 0, ...b.slice(from, from + m.count));
      break;
    }
  }
  return Uint8Array.from(b);
}

// ---- structure-aware mutations --------------------------------------------------------------

/**
 * A DER value as a tree. OCTET STRINGs and BIT STRINGs whose content is itself DER (extension
 * values, keys, CRL reasons) are opened too, so mutations reach inside them.
 */
interface DerNode {
  tag: number;
  content?: Uint8Array;
  children?: DerNode[];
  /** BIT STRING wrapping DER: the unused-bits octet before the children. */
  bitString?: boolean;
}

function parseNodes(buf: Uint8Array, depth = 0): DerNode[] | null {
  const nodes: DerNode[] = [];
  for (let p = 0; p < buf.length; ) {
    if (p + 2 > buf.length) return null;
    const tag = buf[p];
    let len = buf[p + 1];
    let q = p + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 3 || q + n > buf.length) return null;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + buf[q + i];
      q += n;
    }
    if (q + len > buf.length || (tag & 0x1f) === 0x1f) return null;
    const content = buf.subarray(q, q + len);
    const inner =
      depth < 48 && len > 0
        ? tag & 0x20
          ? parseNodes(content, depth + 1)
          : tag === 0x04
            ? parseNodes(content, depth + 1)
            : tag === 0x03 && content[0] === 0
              ? parseNodes(content.subarray(1), depth + 1)
              : null
        : null;
    if (tag & 0x20 && !inner && len > 0) return null;
    nodes.push(inner?.length ? { tag, children: inner, bitString: tag === 0x03 } : { tag, content });
    p = q + len;
  }
  return nodes;
}

function encodeNodes(nodes: readonly DerNode[]): Uint8Array {
  const parts = nodes.map((n) => {
    const body = n.children ? encodeNodes(n.children) : (n.content ?? new Uint8Array(0));
    return tlv(n.tag, n.bitString ? Uint8Array.from([0, ...body]) : body);
  });
  const out = new Uint8Array(parts.reduce((a, b) => a + b.length, 0));
  let o = 0;
  for (const part of parts) out.set(part, (o += part.length) - part.length);
  return out;
}

/** Every node with the list that holds it, in document order. */
function nodeSlots(nodes: DerNode[]): Array<{ list: DerNode[]; index: number }> {
  const out: Array<{ list: DerNode[]; index: number }> = [];
  const visit = (list: DerNode[]) =>
    list.forEach((n, index) => {
      out.push({ list, index });
      if (n.children) visit(n.children);
    });
  visit(nodes);
  return out;
}

export interface StructuralMutation {
  node: number;
  op: 'replace' | 'content' | 'retag' | 'delete' | 'duplicate' | 'transplant' | 'empty';
  random: Uint8Array;
  bytes: Uint8Array;
  tag: number;
  other: number;
}

const structuralMutation: fc.Arbitrary<StructuralMutation> = fc.record({
  node: fc.nat(),
  op: fc.constantFrom('replace', 'content', 'retag', 'delete', 'duplicate', 'transplant', 'empty'),
  random: fc.constant(null).chain(() => randomDerTree),
  bytes: fc.uint8Array({ maxLength: 12 }),
  tag: fc.constantFrom(
    0x01,
    0x02,
    0x03,
    0x04,
    0x05,
    0x06,
    0x0a,
    0x0c,
    0x13,
    0x16,
    0x17,
    0x18,
    0x1c,
    0x1e,
    0x30,
    0x31,
    0x80,
    0x81,
    0x82,
    0x86,
    0x87,
    0xa0,
    0xa1,
    0xa3,
    0xa4,
  ),
  other: fc.nat(),
});

/**
 * Changes one value of `der` and re-encodes every enclosing length, so the result is still
 * well-formed DER and the change reaches the code that reads that field, not the length check
 * in front of it. Input that does not parse as DER is returned unchanged.
 */
export function applyStructuralMutation(der: Uint8Array, m: StructuralMutation): Uint8Array {
  const tree = parseNodes(der);
  if (!tree || tree.length === 0) return der;
  const slots = nodeSlots(tree);
  const { list, index } = slots[m.node % slots.length];
  const node = list[index];
  switch (m.op) {
    case 'replace':
      list.splice(index, 1, ...(parseNodes(m.random) ?? []));
      break;
    case 'content':
      list[index] = { tag: node.tag, content: m.bytes };
      break;
    case 'retag':
      list[index] = { ...node, tag: m.tag };
      break;
    case 'delete':
      list.splice(index, 1);
      break;
    case 'duplicate':
      list.splice(index, 0, node);
      break;
    case 'transplant': {
      // a copy, made before the assignment: the donor may be an ancestor of the slot
      const donor = slots[m.other % slots.length];
      list[index] = parseNodes(encodeNodes([donor.list[donor.index]]))![0];
      break;
    }
    case 'empty':
      list[index] = { tag: node.tag, content: new Uint8Array(0) };
      break;
  }
  return encodeNodes(tree);
}

const anyMutation = (der: Uint8Array, m: Mutation | StructuralMutation): Uint8Array =>
  'op' in m ? applyStructuralMutation(der, m) : applyMutation(der, m);

const mutations = (max: number) =>
  fc.array(fc.oneof({ arbitrary: mutation, weight: 1 }, { arbitrary: structuralMutation, weight: 2 }), { minLength: 1, maxLength: max });

/** One of `artifacts`, with 1 to 4 mutations applied (byte-level and structure-aware). */
export function mutatedOf(artifacts: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(fc.integer({ min: 0, max: artifacts.length - 1 }), mutations(4))
    .map(([i, ms]) => ms.reduce<Uint8Array>(anyMutation, artifacts[i]));
}

/** A signed artifact (certificate, CSR, CRL) and the key that signed it. */
export interface Resignable {
  der: Uint8Array;
  sign(tbs: Uint8Array): Uint8Array;
}

/**
 * One of `artifacts` with its to-be-signed part mutated and then signed again, so the result
 * gets past signature checks (a CSR's proof of possession, the judge's chain signatures) and the
 * mutation reaches the code behind them. Envelope: SEQUENCE { tbs, algorithm, BIT STRING }.
 */
export function resignedMutationsOf(artifacts: readonly Resignable[]): fc.Arbitrary<Uint8Array> {
  const parts = artifacts.map((a) => {
    const outer = headerEnd(a.der, 0);
    const tbsEnd = headerEnd(a.der, outer) + tlvLength(a.der, outer);
    const algEnd = headerEnd(a.der, tbsEnd) + tlvLength(a.der, tbsEnd);
    return { tbs: a.der.subarray(outer, tbsEnd), algorithm: a.der.subarray(tbsEnd, algEnd), sign: a.sign };
  });
  return fc.tuple(fc.integer({ min: 0, max: parts.length - 1 }), mutations(3)).map(([i, ms]) => {
    const tbs = ms.reduce<Uint8Array>(anyMutation, parts[i].tbs);
    const signature = parts[i].sign(tbs);
    return tlv(0x30, Uint8Array.from([...tbs, ...parts[i].algorithm, ...tlv(0x03, Uint8Array.from([0, ...signature]))]));
  });
}

/** Offset of the content of the (valid, definite-length) TLV at `p`. */
function headerEnd(der: Uint8Array, p: number): number {
  const first = der[p + 1];
  return p + 2 + (first & 0x80 ? first & 0x7f : 0);
}

function tlvLength(der: Uint8Array, p: number): number {
  const first = der[p + 1];
  if (!(first & 0x80)) return first;
  let len = 0;
  for (let i = 0; i < (first & 0x7f); i++) len = len * 256 + der[p + 2 + i];
  return len;
}

// ---- structured random DER ------------------------------------------------------------------

const derLength = (n: number): number[] =>
  n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];

const tlv = (tag: number, content: Uint8Array): Uint8Array => Uint8Array.from([tag, ...derLength(content.length), ...content]);

const PRIMITIVE_TAGS = [
  0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0a, 0x0c, 0x13, 0x14, 0x16, 0x17, 0x18, 0x1c, 0x1e, 0x80, 0x81, 0x82, 0x86, 0x87,
];
const CONSTRUCTED_TAGS = [0x30, 0x31, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0x24, 0x23];

/** Well-formed DER trees of random shape and tags: random content that gets past the first checks. */
export const randomDerTree: fc.Arbitrary<Uint8Array> = fc.letrec<{ node: Uint8Array }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.tuple(fc.constantFrom(...PRIMITIVE_TAGS), fc.uint8Array({ maxLength: 24 })).map(([t, c]) => tlv(t, c)),
    fc.tuple(fc.constantFrom(...CONSTRUCTED_TAGS), fc.array(tie('node'), { maxLength: 5 })).map(([t, kids]) => {
      const content = new Uint8Array(kids.reduce((n, k) => n + k.length, 0));
      let o = 0;
      for (const k of kids) content.set(k, (o += k.length) - k.length);
      return tlv(t, content);
    }),
  ),
})).node;

/**
 * Hostile shapes a random generator rarely hits: nesting deep enough to overflow a recursive
 * reader, huge declared lengths, long runs of indefinite-length headers.
 */
export function hostileDer(): Array<{ name: string; der: Uint8Array }> {
  const nested = (depth: number, tag = 0x30): Uint8Array => {
    // definite lengths, computed inside out, so every level is individually well-formed
    const sizes = [2]; // the innermost NULL
    for (let i = 0; i < depth; i++) sizes.push(1 + derLength(sizes[i]).length + sizes[i]);
    const out: number[] = [];
    for (let i = depth; i > 0; i--) out.push(tag, ...derLength(sizes[i - 1]));
    out.push(0x05, 0x00);
    return Uint8Array.from(out);
  };
  const repeat = (unit: number[], times: number) => Uint8Array.from(Array.from({ length: times }, () => unit).flat());
  return [
    { name: 'empty', der: new Uint8Array(0) },
    { name: 'lone tag', der: Uint8Array.of(0x30) },
    { name: '4 GiB declared length', der: Uint8Array.of(0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00) },
    { name: '9 length octets', der: Uint8Array.of(0x30, 0x89, 1, 0, 0, 0, 0, 0, 0, 0, 0) },
    { name: 'indefinite length, unterminated', der: Uint8Array.of(0x30, 0x80, 0x30, 0x80) },
    { name: '20 000 indefinite-length SEQUENCEs', der: repeat([0x30, 0x80], 20_000) },
    { name: '20 000 indefinite-length [0]s', der: repeat([0xa0, 0x80], 20_000) },
    { name: '5 000 nested SEQUENCEs', der: nested(5_000) },
    { name: '5 000 nested [3]s', der: nested(5_000, 0xa3) },
    { name: '5 000 nested constructed OCTET STRINGs', der: nested(5_000, 0x24) },
    { name: 'multi-byte tag', der: Uint8Array.of(0x1f, 0x81, 0x00, 0x00) },
    { name: 'long multi-byte tag', der: Uint8Array.from([0x3f, ...new Array(10_000).fill(0x81), 0x01, 0x00]) },
  ];
}
