/**
 * Judge verdict-engine throughput for a valid 2-certificate chain (EC P-256 leaf + intermediate,
 * root as the trust anchor), made with the openssl CLI.
 *
 *   npx tsx test/bench/judge-engine.ts [seconds-per-run]
 *
 * judgeChain parses the anchors and verifies every signature on each call; createJudge keeps the
 * parsed anchors, CRLs, presented certificates and signature results between calls, which is
 * what the mTLS listener does for the same chain.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJudge, judgeChain } from '../../packages/pki/src/index.ts';

const seconds = Number(process.argv[2] ?? 2);
const dir = mkdtempSync(join(tmpdir(), 'anvil-judge-bench-'));
const sh = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
const der = (file: string) =>
  new Uint8Array(Buffer.from(readFileSync(join(dir, file), 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64'));

try {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  sh([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'root.key',
    '-out',
    'root.pem',
    '-subj',
    '/CN=Bench Root',
    '-days',
    '30',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  sh(['req', ...ec, '-keyout', 'int.key', '-out', 'int.csr', '-subj', '/CN=Bench Intermediate']);
  writeFileSync(
    join(dir, 'int.ext'),
    'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n',
  );
  sh([
    'x509',
    '-req',
    '-in',
    'int.csr',
    '-CA',
    'root.pem',
    '-CAkey',
    'root.key',
    '-CAcreateserial',
    '-days',
    '30',
    '-extfile',
    'int.ext',
    '-out',
    'int.pem',
  ]);
  sh(['req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=bench-client']);
  writeFileSync(
    join(dir, 'leaf.ext'),
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=DNS:bench.example.test\nauthorityKeyIdentifier=keyid\n',
  );
  sh([
    'x509',
    '-req',
    '-in',
    'leaf.csr',
    '-CA',
    'int.pem',
    '-CAkey',
    'int.key',
    '-CAcreateserial',
    '-days',
    '10',
    '-extfile',
    'leaf.ext',
    '-out',
    'leaf.pem',
  ]);

  const root = der('root.pem');
  const chain = [der('leaf.pem'), der('int.pem')];
  const at = new Date();

  const measure = (label: string, fn: () => { status: string }): void => {
    for (let i = 0; i < 200; i++) fn(); // warm up the JIT
    let n = 0;
    const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
    const t0 = process.hrtime.bigint();
    while (process.hrtime.bigint() < end) {
      for (let i = 0; i < 50; i++) if (fn().status !== 'verified') throw new Error('bench chain did not verify');
      n += 50;
    }
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(
      `${label.padEnd(58)} ${Math.round(n / s)
        .toString()
        .padStart(8)} calls/s  (${((s / n) * 1e6).toFixed(1)} µs/call)`,
    );
  };

  measure('judgeChain (parse + verify every call)', () => judgeChain({ presented: chain, anchors: [root], at }));
  const judge = createJudge({ anchors: [root] });
  measure('createJudge().judge (same chain, cached)', () => judge.judge(chain, { at }));
  measure('createJudge().judge + revocationLookup', () =>
    judge.judge(chain, { at, revocationLookup: () => ({ status: 'good', source: 'bench' }) }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
