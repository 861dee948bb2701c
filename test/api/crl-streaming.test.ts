/**
 * Issue 13: a CRL of tens of thousands of entries as the publisher builds it from the database
 * (packed pages from one cursor -> the builder -> one signature -> stored in parts), checked by
 * openssl against the database itself. Runs on PGlite and again on PostgreSQL (test/run-all.sh).
 *
 * The rows are inserted with SQL, varied where the encoding branches: serials of 1..20 octets
 * (with and without a sign octet), every reason and none, revocation times on both sides of the
 * UTCTime years and with a fraction, certificates expired within and beyond the grace period,
 * active ones, and another issuer's.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { SYSTEM_ACTOR, type LoadedIssuer } from '@anvil/ca';
import { buildCrl, parseCrl, toPem } from '@anvil/pki';
import { createTestAnvil, type TestAnvil } from '../support/harness.ts';
import { haveTool } from '../support/tools.ts';

/** Enough entries for more than 1 MiB of DER, so saveCrl sends the CRL in parts. */
const N = 30_000;
const REASONS = [
  null,
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
  'aACompromise',
];
const REASON_ARRAY = sql.raw(`array[${REASONS.map((r) => (r === null ? 'null' : `'${r}'`)).join(', ')}]::text[]`);
/** How `openssl crl -text` names each reason. */
const OPENSSL_REASON: Record<string, string> = {
  'Key Compromise': 'keyCompromise',
  'CA Compromise': 'cACompromise',
  'Affiliation Changed': 'affiliationChanged',
  Superseded: 'superseded',
  'Cessation Of Operation': 'cessationOfOperation',
  'Certificate Hold': 'certificateHold',
  'Privilege Withdrawn': 'privilegeWithdrawn',
  'AA Compromise': 'aACompromise',
};
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const hasOpenssl = haveTool('openssl');
let anvil: TestAnvil;
let issuer: LoadedIssuer;
let work: string;

/** Rows for `issuerId`, g = from..to; `lead` keeps one issuer's serials apart from another's. */
async function insertRows(issuerId: string, from: number, to: number, lead: string) {
  await anvil.store.database.execute(sql`
    insert into certificates (issuer_id, serial, profile, subject, common_name, sans, search_text, key_algorithm,
                              not_before, not_after, der, fingerprint_sha256, status, revoked_at, revocation_reason)
    select ${issuerId}::uuid, serial, 'client', 'CN=crl-' || g, 'crl-' || g, '{"dns":[],"ip":[],"uri":[],"email":[]}'::jsonb, '',
           'EC-P256', now() - interval '30 days',
           case g % 40 when 1 then now() - interval '8 days' when 2 then now() - interval '6 days' else now() + interval '90 days' end,
           '\\x00'::bytea, md5(${issuerId}::text || serial), status,
           case when status = 'active' then null
                else case g % 1000 when 5 then '1949-12-31T23:59:59Z'::timestamptz when 6 then '2050-01-01T00:00:00Z'::timestamptz
                                   when 7 then '2049-12-31T23:59:59.75Z'::timestamptz when 8 then '1950-01-01T00:00:00Z'::timestamptz
                                   else date_trunc('second', now()) - (g % 86400) * interval '1 second'
                                        + case when g % 7 = 0 then interval '0.5 seconds' else interval '0' end end end,
           case when status = 'active' then null else (${REASON_ARRAY})[1 + g % ${REASONS.length}] end
    from (select g,
                 case when g % 50 = 0 then 'active' else 'revoked' end as status,
                 case when ${lead}::text = '1' and g <= 100 then lpad(to_hex(g), 2, '0')
                      when g % 3 = 0 then '00c' || ${lead}::text || lpad(to_hex(g), 6, '0') || substr(md5(g::text), 1, 2 * (g % 16))
                      else ${lead}::text || lpad(to_hex(g), 7, '0') || substr(md5(g::text), 1, 2 * (g % 17)) end as serial
          from generate_series(${from}::int, ${to}::int) g) s`);
}

/** The entries the CRL must hold, straight from the table: serial (as a number), second, reason. */
async function expectedEntries(issuerId: string, thisUpdate: Date): Promise<string[]> {
  const expiredBefore = new Date(thisUpdate.getTime() - anvil.authority.crls.policy.expiredGraceMs);
  const result: unknown = await anvil.store.database.execute(sql`
    select serial, floor(extract(epoch from revoked_at))::bigint::text as seconds, coalesce(revocation_reason, 'unspecified') as reason
    from certificates
    where issuer_id = ${issuerId}::uuid and status = 'revoked' and not_after > ${expiredBefore.toISOString()}::timestamptz`);
  const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as Array<{
    serial: string;
    seconds: string;
    reason: string;
  }>;
  return rows.map((r) => `${BigInt(`0x${r.serial}`)} ${new Date(Number(r.seconds) * 1000).toISOString()} ${r.reason}`).sort();
}

/** `openssl crl -text` entries in the same form: it prints serials without the sign octet and times as "Dec  2 04:44:21 2026 GMT". */
function opensslEntries(text: string): string[] {
  const blocks = text.split(/^\s+Serial Number: /m).slice(1);
  return blocks
    .map((b) => {
      const serial = /^([0-9A-F]+)/.exec(b)![1];
      const t = /Revocation Date: (\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) (\d{4}) GMT/.exec(b)!;
      const at = new Date(Date.UTC(0, MONTHS.indexOf(t[1]), Number(t[2]), Number(t[3]), Number(t[4]), Number(t[5])));
      at.setUTCFullYear(Number(t[6]));
      const reasonLine = /CRL Reason Code:\s*\n\s*([A-Za-z ]+?)\s*$/m.exec(b);
      const reason = reasonLine ? OPENSSL_REASON[reasonLine[1]] : 'unspecified';
      return `${BigInt(`0x${serial}`)} ${at.toISOString()} ${reason}`;
    })
    .sort();
}

/** The TBSCertList's fields as DER, and its revokedCertificates' entries (sorted), by a walker of its own. */
function tbsParts(der: Uint8Array): { fields: string[]; entries: string[] } {
  const tlv = (at: number) => {
    let p = at + 1;
    let len = der[p++];
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + der[p++];
    }
    return { start: at, content: p, end: p + len };
  };
  const kids = (t: { content: number; end: number }) => {
    const out = [];
    for (let p = t.content; p < t.end; ) {
      const c = tlv(p);
      out.push(c);
      p = c.end;
    }
    return out;
  };
  const hex = (t: { start: number; end: number }) => Buffer.from(der.subarray(t.start, t.end)).toString('hex');
  const tbs = kids(kids(tlv(0))[0]);
  // version, signature, issuer, thisUpdate, nextUpdate, revokedCertificates, [0] crlExtensions
  return { fields: [...tbs.slice(0, 5), tbs[6]].map(hex), entries: kids(tbs[5]).map(hex).sort() };
}

beforeAll(async () => {
  anvil = await createTestAnvil();
  work = mkdtempSync(join(tmpdir(), 'anvil-crl-streaming-'));
  issuer = await anvil.authority.createIssuer({ name: 'crl-scale', kind: 'intermediate', keyAlgorithm: 'EC-P256' }, SYSTEM_ACTOR);
  const other = await anvil.authority.createIssuer({ name: 'crl-other', kind: 'intermediate', keyAlgorithm: 'EC-P256' }, SYSTEM_ACTOR);
  await insertRows(issuer.record.id, 1, N, '1');
  await insertRows(other.record.id, 1, 500, '2');
}, 300_000);

afterAll(async () => {
  await anvil?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!hasOpenssl)('a streamed CRL of many entries', () => {
  it('verifies with openssl and lists exactly the revoked serials of the database, with their times and reasons', async () => {
    const crl = await anvil.authority.crls.publish(issuer);
    expect(crl.der.length).toBeGreaterThan(1 << 20);
    const file = join(work, 'scale.crl');
    const ca = join(work, 'scale.pem');
    writeFileSync(file, crl.der);
    writeFileSync(ca, toPem(issuer.record.certificateDer, 'CERTIFICATE'));
    const r = spawnSync('openssl', ['crl', '-inform', 'DER', '-in', file, '-CAfile', ca, '-noout', '-verify', '-text'], {
      encoding: 'utf8',
      maxBuffer: 1 << 30,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/verify OK/);
    const listed = opensslEntries(r.stdout);
    const expected = await expectedEntries(issuer.record.id, crl.thisUpdate);
    // expired beyond the grace period and active rows are out; the other issuer's rows never in
    expect(expected.length).toBe(N - N / 50 - N / 40);
    expect(listed.length).toBe(expected.length);
    expect(listed).toEqual(expected);
    // both time forms made it through
    expect(r.stdout).toContain('Revocation Date: Dec 31 23:59:59 1949 GMT');
    expect(r.stdout).toContain('Revocation Date: Jan  1 00:00:00 2050 GMT');
    expect(r.stdout).toContain('Revocation Date: Dec 31 23:59:59 2049 GMT');
    expect(r.stdout).toContain('Revocation Date: Jan  1 00:00:00 1950 GMT');

    const parsed = parseCrl(crl.der, { issuerSpkiDer: issuer.signer.publicKeySpki });
    expect(parsed.signatureValid).toBe(true);
    expect(parsed.number).toBe(crl.number);
    expect(parsed.entries).toHaveLength(expected.length);
  });

  it('holds the same TBS as the RevokedEntry objects of the same rows, and is stored byte for byte', async () => {
    const crl = await anvil.authority.crls.publish(issuer);
    const expiredBefore = new Date(crl.thisUpdate.getTime() - anvil.authority.crls.policy.expiredGraceMs);
    const fromObjects = await anvil.store.transaction(async (tx) =>
      buildCrl({
        issuerNameDer: new Uint8Array(issuer.certificate.subject.toSchema().toBER(false)),
        authorityKeyId: Buffer.from(issuer.record.subjectKeyId, 'hex'),
        signer: issuer.signer,
        crlNumber: crl.number,
        thisUpdate: crl.thisUpdate,
        nextUpdate: crl.nextUpdate,
        entries: tx.revokedEntries(issuer.record.id, expiredBefore),
      }),
    );
    const a = tbsParts(crl.der);
    const b = tbsParts(fromObjects);
    expect(a.fields).toEqual(b.fields);
    expect(a.entries.length).toBeGreaterThan(N * 0.9);
    expect(a.entries).toEqual(b.entries);

    const stored = await anvil.store.getCrl(issuer.record.id);
    expect(stored!.number).toBe(crl.number);
    expect(Buffer.compare(Buffer.from(stored!.der), Buffer.from(crl.der))).toBe(0);
  });

  it('lists a certificate revoked through the authority in the next CRL, under a higher number', async () => {
    const before = await anvil.authority.crls.publish(issuer);
    const result: unknown = await anvil.store.database.execute(
      sql`select serial from certificates where issuer_id = ${issuer.record.id}::uuid and status = 'active' limit 1`,
    );
    const [{ serial }] = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as Array<{ serial: string }>;
    expect(parseCrl(before.der).entries.some((e) => e.serialHex === serial)).toBe(false);
    await anvil.authority.revocations.revokeBySerial('crl-scale', serial, 'superseded', SYSTEM_ACTOR);
    const after = await anvil.authority.crls.current(issuer);
    expect(after.number).toBeGreaterThan(before.number);
    const entry = parseCrl(after.der).entries.find((e) => e.serialHex === serial);
    expect(entry?.reason).toBe('superseded');
    expect(parseCrl(after.der).entries).toHaveLength(parseCrl(before.der).entries.length + 1);
  });

  it("puts a revoked child CA on its parent's CRL", async () => {
    const child = await anvil.authority.createIssuer({ name: 'crl-child', kind: 'intermediate', keyAlgorithm: 'EC-P256' }, SYSTEM_ACTOR);
    const root = anvil.authority.issuerById(child.record.parentId!);
    await anvil.authority.revocations.revokeIssuer('crl-child', 'keyCompromise', SYSTEM_ACTOR);
    const crl = await anvil.authority.crls.current(root);
    const parsed = parseCrl(crl.der, { issuerSpkiDer: root.signer.publicKeySpki });
    expect(parsed.signatureValid).toBe(true);
    expect(parsed.entries.find((e) => e.serialHex === child.record.serial)?.reason).toBe('keyCompromise');
  });
});
