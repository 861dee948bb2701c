/** CRLs (RFC 5280 5): the streaming DER builder, signed by any Signer. */
import { PkiError } from '../errors.ts';
import { algorithmIdentifierDer } from '../signature-algorithms.ts';
import { OID } from '../oids.ts';
import { isValidSerial } from '../serial.ts';
import type { Signer } from '../signer.ts';
import { TIME_DER_MAX_LENGTH, encodeTimeDer, truncateToSeconds, writeTimeDer, writeTimeDerSeconds } from '../time.ts';
import {
  TAG,
  concat,
  ctx,
  ctxPrim,
  derLengthSize,
  extension,
  header,
  readWhole,
  tlv,
  unsignedIntegerContent,
  writeHeader,
} from '../der.ts';
import { REVOCATION_REASON_CODES, revocationReasonName, type RevocationReason } from './reasons.ts';

/** One revoked certificate as the CA's store yields it. */
export interface RevokedEntry {
  /** Content octets of the serial INTEGER: DER-minimal, positive, lowercase hex (as serialToHex writes). */
  serialHex: string;
  revokedAt: Date;
  reason: RevocationReason;
}

export interface CrlParams {
  /** DER of the issuer certificate's subject Name, copied verbatim so relying parties match it byte for byte. */
  issuerNameDer: Uint8Array;
  /** The issuer's subjectKeyIdentifier, written as the AKI keyIdentifier. */
  authorityKeyId: Uint8Array;
  signer: Signer;
  /** Strictly increasing per issuer (the caller's store guarantees it); at most 20 octets. */
  crlNumber: bigint;
  /** Whole seconds; fractions are dropped. */
  thisUpdate: Date;
  /** Must be after thisUpdate. From 2050 on it is written as GeneralizedTime. */
  nextUpdate: Date;
  /**
   * Streamed once, in the order given. A database cursor can feed this directly: nothing per
   * entry is kept but its encoded bytes. Duplicates are not detected (that would need a set of
   * every serial); the store's unique (issuer, serial) key already rules them out.
   * `PackedRevokedEntries` (pages of packed entries with a summary read first) is the fast form:
   * the CRL is then written once, in place, with no object per entry.
   */
  entries: AsyncIterable<RevokedEntry> | Iterable<RevokedEntry> | PackedRevokedEntries;
}

/**
 * Revoked entries as a store can page them out of a database without one object per entry.
 * Each page holds whole entries, each packed as
 *
 *   1 octet    n, the serial's length (1..20)
 *   n octets   the serial INTEGER's content octets (DER-minimal, positive)
 *   8 octets   revocationDate in whole seconds since 1970-01-01T00:00:00Z, big-endian, signed
 *   1 octet    the CRLReason code (RFC 5280 5.3.1; 0, unspecified, writes no reasonCode)
 *
 * (`packRevokedEntries` writes this from RevokedEntry objects.) The summary comes before the
 * pages, counted in the same snapshot, so the CRL's length is known before its first entry is
 * written: it is allocated once and the entries are encoded straight into it. Pages that do not
 * add up to their summary fail the build.
 */
export interface PackedRevokedEntries {
  summary: PackedEntriesSummary;
  pages: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
}

/** What the length of the encoded entries follows from. */
export interface PackedEntriesSummary {
  count: number;
  /** The sum of the serials' lengths (n above). */
  serialOctets: number;
  /** Entries whose reason is not unspecified: each carries a reasonCode extension. */
  withReasonCode: number;
  /** Entries revoked before 1950 or from 2050 on, which RFC 5280 writes as GeneralizedTime (two octets longer). */
  generalizedTimes: number;
}

/** Octets of a packed entry besides its serial: length, revocationDate, reason. */
export const PACKED_ENTRY_OVERHEAD = 10;

export class CrlBuildError extends PkiError<'invalid_crl_params'> {
  constructor(message: string) {
    super('invalid_crl_params', message);
  }
}

/**
 * crlEntryExtensions for each reason, encoded once: SEQUENCE { Extension { crlReason, ENUMERATED } }.
 * 'unspecified' has none: RFC 5280 5.3.1 says the reasonCode extension SHOULD be absent rather
 * than carry unspecified (0).
 */
const ENTRY_EXTENSIONS = new Map<RevocationReason, Uint8Array>(
  (Object.entries(REVOCATION_REASON_CODES) as [RevocationReason, number][])
    .filter(([name]) => name !== 'unspecified')
    .map(([name, code]) => [name, tlv(TAG.SEQUENCE, extension(OID.crlReason, false, Uint8Array.of(TAG.ENUMERATED, 1, code)))]),
);
const EMPTY = new Uint8Array(0);
/** The same extensions by reason code, for packed entries; a hole is a code no full CRL may carry. */
const ENTRY_EXTENSIONS_BY_CODE: Array<Uint8Array | undefined> = Array.from({ length: 256 }, (_, code) =>
  code === 0 ? EMPTY : code === REVOCATION_REASON_CODES.removeFromCRL ? undefined : ENTRY_EXTENSIONS.get(revocationReasonName(code)!),
);
const REASON_CODE_LENGTH = ENTRY_EXTENSIONS.get('keyCompromise')!.length;
/** SEQUENCE header, INTEGER header, UTCTime: what every entry has besides its serial and reasonCode. */
const ENTRY_FIXED_LENGTH = 2 + 2 + 15;

/** Longest possible entry: SEQUENCE header + INTEGER of 20 octets + Time + reason extensions. */
const ENTRY_MAX_LENGTH = 2 + 2 + 20 + TIME_DER_MAX_LENGTH + 14;
/** Entries are written into blocks of this size; a million entries is about fifty of them. */
const BLOCK_SIZE = 1 << 20;

const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX_VALUE[0x30 + i] = i;
for (let i = 0; i < 6; i++) HEX_VALUE[0x61 + i] = 10 + i;

/**
 * Accumulates the encoded revokedCertificates in fixed blocks, so memory grows with the CRL's
 * size only (no per-entry objects survive) and no block is ever copied while it grows.
 */
class EntrySink {
  readonly blocks: Uint8Array[] = [];
  block = new Uint8Array(BLOCK_SIZE);
  pos = 0;
  total = 0;
  count = 0;

  /** Makes room for one entry of at most ENTRY_MAX_LENGTH bytes at `this.pos`. */
  reserve(): void {
    if (this.pos + ENTRY_MAX_LENGTH > this.block.length) {
      this.flush();
      this.block = new Uint8Array(BLOCK_SIZE);
    }
  }

  flush(): void {
    if (this.pos === 0) return;
    this.blocks.push(this.block.subarray(0, this.pos));
    this.total += this.pos;
    this.pos = 0;
  }

  add(e: RevokedEntry): void {
    const index = this.count;
    if (typeof e?.serialHex !== 'string') throw new CrlBuildError(`entry #${index}: serialHex must be a string`);
    if (!(e.revokedAt instanceof Date) || Number.isNaN(e.revokedAt.getTime())) {
      throw new CrlBuildError(`entry #${index} (serial ${e.serialHex}): revokedAt is not a valid Date`);
    }
    let ext: Uint8Array;
    if (e.reason === 'unspecified') {
      ext = EMPTY;
    } else if (e.reason === 'removeFromCRL') {
      // RFC 5280 5.3.1: removeFromCRL only appears in delta CRLs; this builder writes full CRLs.
      throw new CrlBuildError(`entry #${index} (serial ${e.serialHex}): removeFromCRL is only valid in a delta CRL`);
    } else {
      const found = ENTRY_EXTENSIONS.get(e.reason);
      if (!found) throw new CrlBuildError(`entry #${index} (serial ${e.serialHex}): unknown revocation reason "${String(e.reason)}"`);
      ext = found;
    }

    this.reserve();
    const out = this.block;
    const start = this.pos;
    // userCertificate INTEGER, decoded from hex straight into the block.
    const hex = e.serialHex;
    const n = hex.length >> 1;
    if (hex.length === 0 || hex.length & 1 || n > 20) {
      throw new CrlBuildError(`entry #${index}: serialHex "${hex}" must be 1..20 octets of hex`);
    }
    let p = start + 2;
    out[p++] = TAG.INTEGER;
    out[p++] = n;
    for (let i = 0; i < n; i++) {
      const hi = hex.charCodeAt(2 * i);
      const lo = hex.charCodeAt(2 * i + 1);
      const h = hi < 128 ? HEX_VALUE[hi] : -1;
      const l = lo < 128 ? HEX_VALUE[lo] : -1;
      if (h < 0 || l < 0) throw new CrlBuildError(`entry #${index}: serialHex "${hex}" is not lowercase hex`);
      out[p++] = (h << 4) | l;
    }
    if (!isValidSerial(out.subarray(p - n, p))) {
      throw new CrlBuildError(`entry #${index}: serialHex "${hex}" is not a DER-minimal positive INTEGER`);
    }
    p = writeTimeDer(e.revokedAt, out, p);
    out.set(ext, p);
    p += ext.length;
    // The entry is at most 55 octets, so its SEQUENCE length always fits the short form.
    out[start] = TAG.SEQUENCE;
    out[start + 1] = p - start - 2;
    this.pos = p;
    this.count++;
  }
}

function isAsyncIterable<T>(x: AsyncIterable<T> | Iterable<T>): x is AsyncIterable<T> {
  return typeof (x as AsyncIterable<T>)[Symbol.asyncIterator] === 'function';
}

function isPacked(x: CrlParams['entries']): x is PackedRevokedEntries {
  return typeof x === 'object' && x !== null && 'summary' in x && 'pages' in x;
}

const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

/** The exact length of the encoded revokedCertificates content a summary describes. */
function packedEntriesLength(summary: PackedEntriesSummary): number {
  const { count, serialOctets, withReasonCode, generalizedTimes } = summary ?? ({} as PackedEntriesSummary);
  if (![count, serialOctets, withReasonCode, generalizedTimes].every(isCount)) {
    throw new CrlBuildError("the packed entries' summary must hold four non-negative integers");
  }
  if (withReasonCode > count || generalizedTimes > count || serialOctets < count || serialOctets > 20 * count) {
    throw new CrlBuildError(`the packed entries' summary is impossible: ${JSON.stringify(summary)}`);
  }
  return count * ENTRY_FIXED_LENGTH + serialOctets + 2 * generalizedTimes + REASON_CODE_LENGTH * withReasonCode;
}

/**
 * Encodes pages of packed entries into `out` from `p`, never past `end`. Entries are written
 * before their length is checked against `end`: the buffer has room after `end` (the CRL
 * extensions and the signature's place), and an overlong page fails the build anyway.
 */
class PackedEncoder {
  count = 0;

  constructor(
    private readonly out: Uint8Array,
    public p: number,
    private readonly end: number,
  ) {}

  page(page: Uint8Array): void {
    if (!(page instanceof Uint8Array)) throw new CrlBuildError(`packed entries: the page after entry #${this.count} is not bytes`);
    const out = this.out;
    const serialAt = (s: number, n: number) => Buffer.from(page.buffer, page.byteOffset + s, n).toString('hex');
    let p = this.p;
    let i = 0;
    while (i < page.length) {
      const index = this.count;
      const n = page[i];
      const s = i + 1;
      if (n < 1 || n > 20) throw new CrlBuildError(`packed entry #${index}: serial length ${n} is not 1..20`);
      if (s + n + 9 > page.length) throw new CrlBuildError(`packed entry #${index}: cut off at the end of its page`);
      const b0 = page[s];
      if (b0 & 0x80 || (b0 === 0 && (n === 1 || !(page[s + 1] & 0x80)))) {
        throw new CrlBuildError(`packed entry #${index}: serial ${serialAt(s, n)} is not a DER-minimal positive INTEGER`);
      }
      const t = s + n;
      // Signed 64 bits; beyond 2^53 writeTimeDerSeconds refuses it (and no year 0..9999 is there).
      const high = (page[t] << 24) | (page[t + 1] << 16) | (page[t + 2] << 8) | page[t + 3];
      const low = ((page[t + 4] << 24) | (page[t + 5] << 16) | (page[t + 6] << 8) | page[t + 7]) >>> 0;
      const code = page[t + 8];
      const ext = ENTRY_EXTENSIONS_BY_CODE[code];
      if (!ext) {
        throw new CrlBuildError(
          code === REVOCATION_REASON_CODES.removeFromCRL
            ? `packed entry #${index} (serial ${serialAt(s, n)}): removeFromCRL is only valid in a delta CRL`
            : `packed entry #${index} (serial ${serialAt(s, n)}): unknown revocation reason code ${code}`,
        );
      }
      const start = p;
      out[p + 2] = TAG.INTEGER;
      out[p + 3] = n;
      p += 4;
      for (let k = 0; k < n; k++) out[p++] = page[s + k];
      try {
        p = writeTimeDerSeconds(high * 0x1_0000_0000 + low, out, p);
      } catch (e) {
        throw new CrlBuildError(`packed entry #${index} (serial ${serialAt(s, n)}): ${(e as Error).message}`);
      }
      out.set(ext, p);
      p += ext.length;
      if (p > this.end) throw new CrlBuildError(`packed entry #${index}: the entries are longer than their summary says`);
      // At most 53 octets of content: the short form of the length always fits.
      out[start] = TAG.SEQUENCE;
      out[start + 1] = p - start - 2;
      i = t + 9;
      this.count++;
    }
    this.p = p;
  }
}

/** Packs entries into the PackedRevokedEntries layout (one page), for stores that hold them as objects. */
export function packRevokedEntries(entries: readonly RevokedEntry[]): PackedRevokedEntries {
  let serialOctets = 0;
  let withReasonCode = 0;
  let generalizedTimes = 0;
  for (const e of entries) serialOctets += (e.serialHex?.length ?? 0) >> 1;
  const page = new Uint8Array(serialOctets + PACKED_ENTRY_OVERHEAD * entries.length);
  const view = new DataView(page.buffer);
  let p = 0;
  entries.forEach((e, index) => {
    const hex = e.serialHex;
    const n = typeof hex === 'string' ? hex.length >> 1 : 0;
    if (n === 0 || n > 20 || hex.length !== 2 * n || !/^[0-9a-f]+$/.test(hex)) {
      throw new CrlBuildError(`entry #${index}: serialHex "${String(hex)}" must be 1..20 octets of lowercase hex`);
    }
    if (!(e.revokedAt instanceof Date) || Number.isNaN(e.revokedAt.getTime())) {
      throw new CrlBuildError(`entry #${index} (serial ${hex}): revokedAt is not a valid Date`);
    }
    const code = REVOCATION_REASON_CODES[e.reason];
    if (code === undefined) throw new CrlBuildError(`entry #${index} (serial ${hex}): unknown revocation reason "${String(e.reason)}"`);
    const seconds = Math.floor(e.revokedAt.getTime() / 1000);
    const year = e.revokedAt.getUTCFullYear();
    page[p++] = n;
    page.set(Buffer.from(hex, 'hex'), p);
    p += n;
    view.setBigInt64(p, BigInt(seconds));
    p += 8;
    page[p++] = code;
    if (code !== 0) withReasonCode++;
    if (year < 1950 || year >= 2050) generalizedTimes++;
  });
  return { summary: { count: entries.length, serialOctets, withReasonCode, generalizedTimes }, pages: [page] };
}

/** Room kept after the TBS for signatureAlgorithm and the signature: an RSA-8192 signature fits. */
const SIGNATURE_ROOM = 1100;
/** The outer SEQUENCE header's longest form (4 length octets: up to 4 GiB). */
const OUTER_HEADER_ROOM = 6;

/**
 * The CRL's one buffer: [room for the outer header][TBSCertList][signatureAlgorithm, signature].
 * The TBS is written at a fixed offset, its entries straight into place, and signed where it lies.
 */
class CrlBuffer {
  readonly out: Uint8Array;
  readonly tbsStart = OUTER_HEADER_ROOM;
  readonly entriesStart: number;
  readonly entriesEnd: number;
  readonly tbsEnd: number;

  constructor(
    head: Uint8Array,
    entriesLength: number,
    count: number,
    private readonly crlExtensions: Uint8Array,
  ) {
    // RFC 5280 5.1.2.6: with no revoked certificates the field is absent, not an empty SEQUENCE.
    const revokedHeaderLength = count > 0 ? 1 + derLengthSize(entriesLength) : 0;
    const tbsContentLength = head.length + revokedHeaderLength + entriesLength + crlExtensions.length;
    const tbsLength = 1 + derLengthSize(tbsContentLength) + tbsContentLength;
    this.out = new Uint8Array(OUTER_HEADER_ROOM + tbsLength + SIGNATURE_ROOM);
    let p = writeHeader(TAG.SEQUENCE, tbsContentLength, this.out, this.tbsStart);
    this.out.set(head, p);
    p += head.length;
    if (count > 0) p = writeHeader(TAG.SEQUENCE, entriesLength, this.out, p);
    this.entriesStart = p;
    this.entriesEnd = p + entriesLength;
    this.tbsEnd = this.entriesEnd + crlExtensions.length;
  }

  /** Writes the extensions after the entries, signs the TBS in place and returns the CRL's DER. */
  async sign(signer: Signer, sigAlg: Uint8Array): Promise<Uint8Array> {
    const { out, tbsStart, tbsEnd } = this;
    out.set(this.crlExtensions, this.entriesEnd);
    const tbs = out.subarray(tbsStart, tbsEnd);
    const signature = await signer.sign(tbs);
    const bitsLength = 1 + signature.length;
    const outerLength = tbs.length + sigAlg.length + 1 + derLengthSize(bitsLength) + bitsLength;
    if (outerLength - tbs.length > SIGNATURE_ROOM) {
      const signatureBits = tlv(TAG.BIT_STRING, Uint8Array.of(0), signature);
      return concat([header(TAG.SEQUENCE, outerLength), tbs, sigAlg, signatureBits]);
    }
    let p = tbsEnd;
    out.set(sigAlg, p);
    p += sigAlg.length;
    p = writeHeader(TAG.BIT_STRING, bitsLength, out, p);
    out[p++] = 0;
    out.set(signature, p);
    p += signature.length;
    const start = tbsStart - 1 - derLengthSize(outerLength);
    writeHeader(TAG.SEQUENCE, outerLength, out, start);
    return out.subarray(start, p);
  }
}

/**
 * Builds and signs a v2 CRL (RFC 5280 5.1) and returns its DER.
 *
 * Packed entries (what the store pages out of the database) are encoded straight into the one
 * buffer that becomes the CRL, sized beforehand from their summary; the TBS is signed where it
 * lies. RevokedEntry objects are encoded into byte blocks while the iterable is consumed, then
 * copied into that buffer once. A 1,000,000 entry CRL is about 47 MB (test/bench/crl.ts).
 * The returned bytes may be a view into a slightly larger buffer.
 */
export async function buildCrl(params: CrlParams): Promise<Uint8Array> {
  const { signer, crlNumber } = params;
  try {
    readWhole(params.issuerNameDer, TAG.SEQUENCE, 'issuerNameDer');
  } catch (e) {
    throw new CrlBuildError(`issuerNameDer is not a DER Name: ${(e as Error).message}`);
  }
  if (!(params.authorityKeyId instanceof Uint8Array) || params.authorityKeyId.length === 0) {
    throw new CrlBuildError('authorityKeyId must be a non-empty byte string');
  }
  if (typeof crlNumber !== 'bigint' || crlNumber < 0n) throw new CrlBuildError('crlNumber must be a non-negative bigint');
  const numberContent = unsignedIntegerContent(crlNumber);
  // RFC 5280 5.2.3: conforming CRL issuers MUST NOT use CRLNumber values longer than 20 octets.
  if (numberContent.length > 20) throw new CrlBuildError('crlNumber is longer than 20 octets');
  let thisUpdate: Date, nextUpdate: Date;
  try {
    thisUpdate = truncateToSeconds(params.thisUpdate);
    nextUpdate = truncateToSeconds(params.nextUpdate);
  } catch {
    throw new CrlBuildError('thisUpdate and nextUpdate must be valid Dates');
  }
  if (nextUpdate <= thisUpdate) throw new CrlBuildError('nextUpdate must be after thisUpdate');

  const sigAlg = algorithmIdentifierDer(signer.signatureAlgorithm);
  const head = concat([
    Uint8Array.of(TAG.INTEGER, 1, 1), // version v2: CRL extensions are present
    sigAlg,
    params.issuerNameDer,
    encodeTimeDer(thisUpdate),
    encodeTimeDer(nextUpdate),
  ]);
  const crlExtensions = tlv(
    ctx(0),
    tlv(
      TAG.SEQUENCE,
      extension(OID.authorityKeyIdentifier, false, tlv(TAG.SEQUENCE, tlv(ctxPrim(0), params.authorityKeyId))),
      extension(OID.crlNumber, false, tlv(TAG.INTEGER, numberContent)),
    ),
  );

  const entries = params.entries;
  if (isPacked(entries)) {
    const { summary } = entries;
    const crl = new CrlBuffer(head, packedEntriesLength(summary), summary.count, crlExtensions);
    const encoder = new PackedEncoder(crl.out, crl.entriesStart, crl.entriesEnd);
    if (isAsyncIterable(entries.pages)) {
      for await (const page of entries.pages) encoder.page(page);
    } else {
      for (const page of entries.pages) encoder.page(page);
    }
    if (encoder.count !== summary.count || encoder.p !== crl.entriesEnd) {
      throw new CrlBuildError(
        `the packed entries (${encoder.count}, ${encoder.p - crl.entriesStart} octets) do not add up to their summary (${summary.count}, ${crl.entriesEnd - crl.entriesStart} octets)`,
      );
    }
    return crl.sign(signer, sigAlg);
  }

  const sink = new EntrySink();
  if (isAsyncIterable(entries)) {
    for await (const e of entries) sink.add(e);
  } else {
    for (const e of entries) sink.add(e);
  }
  sink.flush();
  const crl = new CrlBuffer(head, sink.total, sink.count, crlExtensions);
  let p = crl.entriesStart;
  for (const block of sink.blocks) {
    crl.out.set(block, p);
    p += block.length;
  }
  sink.blocks.length = 0; // let the blocks go before the signature
  return crl.sign(signer, sigAlg);
}
