/** PEM armour: DER <-> PEM text, tolerant of whitespace and CRLF on input. */
import { PkiError } from './errors.ts';

export function toPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** A PKCS#8 private key as PEM ("PRIVATE KEY"), the form every TLS stack reads. */
export function privateKeyPem(pkcs8Der: Uint8Array): string {
  return toPem(pkcs8Der, 'PRIVATE KEY');
}

export interface PemBlock {
  label: string;
  der: Uint8Array;
}

const PEM_BEGIN = /-----BEGIN ([A-Z0-9 ]+)-----/g;
const PEM_END = /-----END ([A-Z0-9 ]+)-----/g;

/**
 * Every PEM block in `text`, in order. Throws on a block whose body is not base64.
 *
 * A block runs from a BEGIN line to the first END line with the same label. The END lines are
 * indexed in one pass first: matching whole blocks with one lazy regex rescans the rest of the
 * text from every BEGIN that has no END, which is quadratic (half a megabyte of BEGIN lines took
 * ~2 s, and the judge accepts 16 MiB of pasted CRLs).
 */
export function parsePemBlocks(text: string): PemBlock[] {
  const ends = new Map<string, number[]>();
  const end = new RegExp(PEM_END);
  for (let m = end.exec(text); m; m = end.exec(text)) {
    let list = ends.get(m[1]);
    if (!list) ends.set(m[1], (list = []));
    list.push(m.index);
    end.lastIndex = m.index + 1; // END lines may overlap ("-----END A-----END B-----")
  }
  const blocks: PemBlock[] = [];
  const begin = new RegExp(PEM_BEGIN);
  for (let m = begin.exec(text); m; m = begin.exec(text)) {
    const label = m[1];
    const bodyStart = m.index + m[0].length;
    const bodyEnd = firstAtOrAfter(ends.get(label), bodyStart);
    if (bodyEnd === undefined) {
      begin.lastIndex = m.index + 1; // no END for this BEGIN: look for the next BEGIN inside it
      continue;
    }
    const body = text.slice(bodyStart, bodyEnd).replace(/[\r\n\t ]/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length === 0) {
      throw new PemError(`PEM block "${label}" is not valid base64`);
    }
    blocks.push({ label, der: new Uint8Array(Buffer.from(body, 'base64')) });
    begin.lastIndex = bodyEnd + `-----END ${label}-----`.length;
  }
  return blocks;
}

/** The first offset in the ascending `offsets` that is >= `from` (binary search). */
function firstAtOrAfter(offsets: number[] | undefined, from: number): number | undefined {
  if (!offsets) return undefined;
  let lo = 0;
  let hi = offsets.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (offsets[mid] < from) lo = mid + 1;
    else hi = mid;
  }
  return offsets[lo];
}

/** The DER of every block with one of `labels`; throws when there is none. */
export function pemToDerList(text: string, labels: string[]): Uint8Array[] {
  const found = parsePemBlocks(text).filter((b) => labels.includes(b.label));
  if (found.length === 0) throw new PemError(`no PEM block labelled ${labels.join(' or ')}`);
  return found.map((b) => b.der);
}

export class PemError extends PkiError<'malformed_pem'> {
  constructor(message: string) {
    super('malformed_pem', message);
  }
}
