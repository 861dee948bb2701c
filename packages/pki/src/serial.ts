/**
 * Serial numbers: a positive, DER-minimal INTEGER of at most 20 octets (RFC 5280 4.1.2.2).
 * asn1js keeps whatever bytes it is given, so the minimal form is built here.
 */
export function serialFromRandom(random: Uint8Array): Uint8Array {
  if (random.length === 0 || random.length > 19) throw new Error('serial entropy must be 1..19 bytes');
  let start = 0;
  while (start < random.length - 1 && random[start] === 0) start++;
  const body = random.subarray(start);
  if (body.length === 1 && body[0] === 0) throw new Error('serial must not be zero');
  // A set top bit would read as negative: prefix 0x00.
  return body[0] & 0x80 ? Uint8Array.from([0, ...body]) : Uint8Array.from(body);
}

export function serialToHex(serial: Uint8Array): string {
  return Buffer.from(serial).toString('hex');
}

/** Whether `bytes` is the content of a positive, DER-minimal INTEGER of at most 20 octets. */
export function isValidSerial(bytes: Uint8Array): boolean {
  if (bytes.length === 0 || bytes.length > 20) return false;
  if (bytes[0] & 0x80) return false; // negative
  if (bytes[0] === 0 && (bytes.length === 1 || !(bytes[1] & 0x80))) return false; // zero or not minimal
  return true;
}
