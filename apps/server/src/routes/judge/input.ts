/**
 * Turning what arrives over HTTP into judge input, for every door of the judge: expected names,
 * the Accept header and pasted PEM.
 */
import { isIP } from 'node:net';
import { parsePemBlocks, type PemError, type ExpectName } from '@anvil/pki';

export const EXPECT_TYPES = ['dns', 'uri', 'email', 'ip'] as const;

export class JudgeInputProblem extends Error {
  constructor(
    readonly status: 400 | 422,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** "dns:api.example.com", "uri:spiffe://…", "email:…", "ip:10.0.0.1" (or {type, value}). */
export function parseExpectName(input: string | { type: string; value: string }, field = 'expectName'): ExpectName {
  let type: string;
  let value: string;
  if (typeof input === 'string') {
    const i = input.indexOf(':');
    if (i < 0)
      throw new JudgeInputProblem(
        400,
        'invalid_expect_name',
        `${field} is "type:value" with type one of ${EXPECT_TYPES.join(', ')} (e.g. "dns:api.example.com")`,
      );
    type = input.slice(0, i).toLowerCase();
    value = input.slice(i + 1);
  } else {
    type = input.type.toLowerCase();
    value = input.value;
  }
  if (!(EXPECT_TYPES as readonly string[]).includes(type)) {
    throw new JudgeInputProblem(
      400,
      'invalid_expect_name',
      `${field}: "${type.slice(0, 20)}" is not a name type; use one of ${EXPECT_TYPES.join(', ')}`,
    );
  }
  if (value.length === 0 || value.length > 2048 || /[\u0000-\u001f\s]/.test(value)) {
    throw new JudgeInputProblem(400, 'invalid_expect_name', `${field}: the ${type} value is empty, too long or contains whitespace`);
  }
  if (type === 'ip' && !isIP(value))
    throw new JudgeInputProblem(400, 'invalid_expect_name', `${field}: "${value.slice(0, 64)}" is not an IP address`);
  return { type: type as ExpectName['type'], value };
}

/**
 * Whether the Accept header prefers text/html to JSON: browsers send text/html first; curl
 * sends only * / *, which gets JSON. A tie goes to JSON.
 */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  let html = 0;
  let json = 0;
  let any = 0;
  for (const part of accept.split(',')) {
    const [type, ...params] = part.trim().toLowerCase().split(';');
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    if (!Number.isFinite(q)) continue;
    if (type === 'text/html' || type === 'application/xhtml+xml') html = Math.max(html, q);
    else if (type === 'application/json' || type === 'application/problem+json') json = Math.max(json, q);
    else if (type === '*/*' || type === 'application/*') any = Math.max(any, q);
  }
  return html > Math.max(json, any);
}

/**
 * The DER blocks of a PEM text, in order. Anything but the expected label is refused, not
 * skipped (a private key pasted by mistake must not pass silently). `code` names the field in
 * error codes: malformed_<code> (400, not PEM), empty_<code> (422, no block).
 */
export function pemBlocksOf(text: string, field: string, code: string, what: 'certificate' | 'crl' = 'certificate'): Uint8Array[] {
  let blocks;
  try {
    blocks = parsePemBlocks(text);
  } catch (e) {
    throw new JudgeInputProblem(400, `malformed_${code}`, `${field}: ${(e as PemError).message}`);
  }
  const label = what === 'crl' ? 'X509 CRL' : 'CERTIFICATE';
  const other = blocks.find(
    (b) => b.label !== label && !(what === 'certificate' && (b.label === 'X509 CERTIFICATE' || b.label === 'TRUSTED CERTIFICATE')),
  );
  if (other) {
    const key = /PRIVATE KEY/.test(other.label);
    throw new JudgeInputProblem(
      422,
      key ? 'private_key_sent' : `unexpected_pem_block`,
      key
        ? `${field} contains a private key ("${other.label}"). Never send private keys anywhere: treat this key as compromised and replace it.`
        : `${field}: expected only "${label}" PEM blocks, found "${other.label}"`,
    );
  }
  if (blocks.length === 0) {
    if (/-----BEGIN/.test(text))
      throw new JudgeInputProblem(
        400,
        `malformed_${code}`,
        `${field}: a PEM block is not closed, or its END line does not match its BEGIN line`,
      );
    throw new JudgeInputProblem(422, `empty_${code}`, `${field} holds no "-----BEGIN ${label}-----" block`);
  }
  return blocks.map((b) => b.der);
}
