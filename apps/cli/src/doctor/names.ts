/** Distinguished names compared across OpenSSL's one-line form ("O = Acme, CN = Root") and Node's ("O=Acme\nCN=Root"). */

/** One canonical text per name: attributes in order, spaces around "=" dropped, case folded. */
export function canonicalName(text: string): string {
  return text
    .split(/\n|,\s*(?=[A-Za-z][A-Za-z0-9.]*\s*=)/)
    .map((part) =>
      part
        .trim()
        .replace(/\s*=\s*/, '=')
        .toLowerCase(),
    )
    .filter(Boolean)
    .join('/');
}

/** Node's multi-line subject as one readable line. */
export function oneLine(name: string): string {
  return name.split('\n').join(', ');
}
