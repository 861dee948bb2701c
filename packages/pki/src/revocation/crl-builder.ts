/** CRLs (RFC 5280 5): the streaming DER builder, signed by any Signer. */
import { PkiError } from '../errors.ts';
import { algorithmIdentifierDer } from '../signature-algorithms.ts';
import { OID } from '../oids.ts';
import { isValidSerial } from '../serial.ts';
import type { Signer } from '../signer.ts';
import { TIME_DER_MAX_LENGTH, encodeTimeDer, truncateToSeconds, writeTimeDer } from '../time.ts';
import { TAG, concat, ctx, ctxPrim, extension, header, readWhole, tlv, unsignedIntegerContent } from '../der.ts';
import { REVOCATION_REASON_CODES, type RevocationReason } from './reasons.ts';

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
   */
  entries: AsyncIterable<RevokedEntry> | Iterable<RevokedEntry>;
}

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

/**
 * Builds and signs a v2 CRL (RFC 5280 5.1) and returns its DER.
 *
 * The revoked entries are encoded by hand into byte blocks while the iterable is consumed; only
 * then are the outer lengths known, the TBSCertList assembled once and signed once. A 1,000,000
 * entry CRL is about 50 MB and builds in a few seconds (see packages/pki/bench/crl-build.ts).
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

  const sink = new EntrySink();
  if (isAsyncIterable(params.entries)) {
    for await (const e of params.entries) sink.add(e);
  } else {
    for (const e of params.entries) sink.add(e);
  }
  sink.flush();

  const head = concat([
    Uint8Array.of(TAG.INTEGER, 1, 1), // version v2: CRL extensions are present
    sigAlg,
    params.issuerNameDer,
    encodeTimeDer(thisUpdate),
    encodeTimeDer(nextUpdate),
  ]);
  // RFC 5280 5.1.2.6: with no revoked certificates the field is absent, not an empty SEQUENCE.
  const revokedHeader = sink.count > 0 ? header(TAG.SEQUENCE, sink.total) : EMPTY;
  const crlExtensions = tlv(
    ctx(0),
    tlv(
      TAG.SEQUENCE,
      extension(OID.authorityKeyIdentifier, false, tlv(TAG.SEQUENCE, tlv(ctxPrim(0), params.authorityKeyId))),
      extension(OID.crlNumber, false, tlv(TAG.INTEGER, numberContent)),
    ),
  );
  const tbsContentLength = head.length + revokedHeader.length + sink.total + crlExtensions.length;
  const tbsHeader = header(TAG.SEQUENCE, tbsContentLength);

  const tbs = new Uint8Array(tbsHeader.length + tbsContentLength);
  let p = 0;
  for (const part of [tbsHeader, head, revokedHeader]) {
    tbs.set(part, p);
    p += part.length;
  }
  for (let i = 0; i < sink.blocks.length; i++) {
    tbs.set(sink.blocks[i], p);
    p += sink.blocks[i].length;
  }
  sink.blocks.length = 0; // let the blocks go before the signature and the final copy
  tbs.set(crlExtensions, p);

  const signature = await signer.sign(tbs);
  const signatureBits = tlv(TAG.BIT_STRING, Uint8Array.of(0), signature);
  const outerLength = tbs.length + sigAlg.length + signatureBits.length;
  return concat([header(TAG.SEQUENCE, outerLength), tbs, sigAlg, signatureBits]);
}
