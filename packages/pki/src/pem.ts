/** PEM armour: DER <-> PEM text, tolerant of whitespace and CRLF on input. */

export function toPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export interface PemBlock {
  label: string;
  der: Uint8Array;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Every PEM block in `text`, in order. Throws on a block whose body is not base64. */
export function parsePemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(PEM_BLOCK)) {
    const body = m[2].replace(/[\r\n\t ]/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length === 0) {
      throw new PemError(`PEM block "${m[1]}" is not valid base64`);
    }
    blocks.push({ label: m[1], der: new Uint8Array(Buffer.from(body, 'base64')) });
  }
  return blocks;
}

/** The DER of every block with one of `labels`; throws when there is none. */
export function pemToDerList(text: string, labels: string[]): Uint8Array[] {
  const found = parsePemBlocks(text).filter((b) => labels.includes(b.label));
  if (found.length === 0) throw new PemError(`no PEM block labelled ${labels.join(' or ')}`);
  return found.map((b) => b.der);
}

export class PemError extends Error {
  readonly code = 'malformed_pem';
}
