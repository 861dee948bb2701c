/**
 * Builds a CRL with N synthetic entries (default 1,000,000) and prints the build time and the
 * process's peak RSS. Entries are generated lazily so the figure is the builder's own footprint.
 *
 *   npx tsx packages/pki/bench/crl-build.ts [--count 1000000] [--async] [--parse] [--out x.crl]
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { generateKey } from '../src/keys.ts';
import { OID } from '../src/oids.ts';
import { buildCrl, type RevokedEntry } from '../src/revocation/crl-builder.ts';
import { parseCrl, verifyCrlSignature } from '../src/x509/crl-reader.ts';
import { encodeOid, tlv, TAG } from '../src/der.ts';
import { REVOCATION_REASONS } from '../src/revocation/reasons.ts';
import { SoftwareSigner } from '../src/signer.ts';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1000000' },
    async: { type: 'boolean', default: false },
    parse: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const count = Number(values.count);
const reasons = REVOCATION_REASONS.filter((r) => r !== 'removeFromCRL');

function* entries(n: number): Generator<RevokedEntry> {
  const base = Date.UTC(2026, 0, 1);
  const batch = 4096;
  for (let i = 0; i < n; i += batch) {
    const random = randomBytes(16 * batch);
    for (let j = 0; j < batch && i + j < n; j++) {
      const s = random.subarray(16 * j, 16 * j + 16);
      s[0] = 1 + (s[0] % 0x7f); // positive, non-zero first octet: DER-minimal as issued serials are
      yield { serialHex: s.toString('hex'), revokedAt: new Date(base + (i + j) * 1000), reason: reasons[(i + j) % reasons.length] };
    }
  }
}
async function* asyncEntries(n: number): AsyncGenerator<RevokedEntry> {
  yield* entries(n);
}

const key = await generateKey('EC-P256');
const signer = new SoftwareSigner('EC-P256', key.pkcs8Der);
const utf8 = (s: string) => tlv(0x0c, new TextEncoder().encode(s));
const issuerNameDer = tlv(TAG.SEQUENCE, tlv(TAG.SET, tlv(TAG.SEQUENCE, encodeOid(OID.commonName), utf8('Anvil Bench CA'))));

const rssBefore = process.memoryUsage().rss;
const t0 = performance.now();
const crl = await buildCrl({
  issuerNameDer,
  authorityKeyId: new Uint8Array(20).fill(7),
  signer,
  crlNumber: 42n,
  thisUpdate: new Date(Date.UTC(2026, 5, 1)),
  nextUpdate: new Date(Date.UTC(2026, 5, 8)),
  entries: values.async ? asyncEntries(count) : entries(count),
});
const buildMs = performance.now() - t0;
const peakRssMb = process.resourceUsage().maxRSS / 1024;

console.log(`entries:        ${count.toLocaleString('en')} (${values.async ? 'async' : 'sync'} iterable)`);
console.log(`CRL size:       ${(crl.length / 1e6).toFixed(1)} MB`);
console.log(`build time:     ${(buildMs / 1000).toFixed(2)} s`);
console.log(`RSS before:     ${(rssBefore / 2 ** 20).toFixed(0)} MiB`);
console.log(`peak RSS:       ${peakRssMb.toFixed(0)} MiB (process maxRSS, includes the ${(crl.length / 2 ** 20).toFixed(0)} MiB result)`);
console.log(`signature ok:   ${verifyCrlSignature(crl, signer.publicKeySpki)}`);
if (values.parse) {
  const t1 = performance.now();
  const parsed = parseCrl(crl);
  console.log(`parse time:     ${((performance.now() - t1) / 1000).toFixed(2)} s (${parsed.entries.length} entries)`);
  console.log(`peak RSS now:   ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
}
if (values.out) writeFileSync(values.out, crl);
