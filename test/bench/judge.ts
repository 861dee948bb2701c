/**
 * npm run bench:judge — full mTLS handshakes + verdicts per second against GET /verify on the
 * mTLS listener, and the same against a real nginx (`ssl_verify_client on`) on this machine
 * with the same server certificate, trust bundle, CRLs and client certificate.
 *
 * Every request is a new TLS connection with a full handshake: the load generator is
 * `openssl s_time -new` (C, no session resumption, HTTP/1.0 so no keep-alive), C processes in
 * parallel for a bounded time; both servers are measured with the same client so its cost
 * weighs on both alike. The client sends leaf + intermediate (OpenSSL's auto-chain from
 * -CAfile holding only the intermediate), so both answer SUCCESS / verified.
 *
 *   BENCH_CONCURRENCY (default 8)   parallel client processes
 *   BENCH_SECONDS (default 10)      duration of each run
 *   BENCH_WORKERS (default 1)       nginx worker_processes (Anvil's mTLS listener is one Node process)
 *   BENCH_ROUNDS (default 2)        alternating Anvil/nginx runs; the ratio is averaged over rounds
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { toPem } from '@anvil/pki';
import { createTestAnvil } from '../support/harness.ts';
import { freePort, NGINX_BIN, startNginx } from '../support/nginx.ts';

const C = Number(process.env.BENCH_CONCURRENCY ?? 8);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 1);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);

if (!NGINX_BIN || spawnSync('sh', ['-c', 'command -v openssl && command -v curl']).status !== 0) {
  console.error('bench:judge needs nginx (/usr/sbin/nginx), openssl and curl');
  process.exit(2);
}

interface Run {
  connections: number;
  seconds: number;
  bytesPerConnection: number;
}

/** C parallel `openssl s_time -new` against port; connections / measured wall time. */
async function load(port: number, files: { leaf: string; key: string; chain: string }, path: string, duration = SECONDS): Promise<Run> {
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: C }, () => {
      const p = spawn(
        'openssl',
        [
          's_time',
          '-connect',
          `127.0.0.1:${port}`,
          '-new',
          '-cert',
          files.leaf,
          '-key',
          files.key,
          '-CAfile',
          files.chain,
          '-www',
          path,
          '-time',
          String(duration),
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (out += d));
      return new Promise<{ n: number; bytes: number }>((resolve, reject) =>
        p.on('close', (code) => {
          const m = /(\d+) connections in \d+ real seconds, (\d+) bytes read per connection/.exec(out);
          if (code !== 0 || !m) reject(new Error(`s_time failed (${code}):\n${out.slice(-2000)}`));
          else resolve({ n: Number(m[1]), bytes: Number(m[2]) });
        }),
      );
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const connections = results.reduce((a, r) => a + r.n, 0);
  return {
    connections,
    seconds,
    bytesPerConnection: Math.round(results.reduce((a, r) => a + r.bytes * r.n, 0) / Math.max(1, connections)),
  };
}

async function curl(args: string[]): Promise<string> {
  const p = spawn('curl', ['-sk', '--max-time', '10', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  await new Promise((r) => p.on('close', r));
  return out;
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'anvil-bench-judge-'));
  const anvil = await createTestAnvil({ mtls: true });
  try {
    const res = await anvil.api('POST', '/api/v1/certificates', {
      profile: 'client',
      subject: { CN: 'bench-client' },
      sans: { dns: ['bench.example.test'] },
    });
    if (res.status !== 201) throw new Error(`issuance failed: ${res.status} ${await res.text()}`);
    const cert = (await res.json()) as { certificate: string; chain: string; fullchain: string; privateKey: string };
    const crls = await Promise.all(anvil.authority.issuers().map((i) => anvil.authority.crls.current(i)));
    const mtls = anvil.mtls!;
    const files = {
      leaf: join(work, 'client.pem'),
      key: join(work, 'client.key'),
      chain: join(work, 'chain.pem'),
      fullchain: join(work, 'fullchain.pem'),
      trust: join(work, 'trust.pem'),
      crls: join(work, 'crls.pem'),
      serverCert: join(work, 'server.pem'),
      serverKey: join(work, 'server.key'),
    };
    writeFileSync(files.leaf, cert.certificate);
    writeFileSync(files.key, cert.privateKey);
    writeFileSync(files.chain, cert.chain);
    writeFileSync(files.fullchain, cert.fullchain);
    writeFileSync(files.trust, anvil.authority.trustBundlePem());
    writeFileSync(files.crls, crls.map((c) => toPem(c.der, 'X509 CRL')).join(''));
    writeFileSync(files.serverCert, mtls.identity.certPem);
    writeFileSync(files.serverKey, mtls.identity.keyPem);

    const nginxPort = await freePort();
    const nginx = await startNginx(
      join(work, 'nginx'),
      [
        {
          port: nginxPort,
          certPath: files.serverCert,
          keyPath: files.serverKey,
          clientCaPath: files.trust,
          crlPath: files.crls,
          verifyClient: 'on',
          depth: 3,
        },
      ],
      WORKERS,
    );
    try {
      // Both must accept the client before their speed means anything.
      const anvilVerdict = JSON.parse(
        await curl(['--cert', files.fullchain, '--key', files.key, `https://127.0.0.1:${mtls.port}/verify`]),
      ) as { status: string; nginx: string };
      const nginxVerdict = await curl(['--cert', files.fullchain, '--key', files.key, `https://127.0.0.1:${nginxPort}/verify`]);
      if (anvilVerdict.status !== 'verified' || nginxVerdict !== 'SUCCESS' || anvilVerdict.nginx !== nginxVerdict) {
        throw new Error(`sanity check failed: anvil ${JSON.stringify(anvilVerdict).slice(0, 300)}, nginx ${nginxVerdict}`);
      }

      console.log(
        `bench:judge — ${C} concurrent clients (openssl s_time -new: a full handshake per request, no resumption, HTTP/1.0), ${SECONDS} s per run, ${ROUNDS} rounds alternating, ${cpus().length} CPUs, nginx worker_processes ${WORKERS}, Anvil: one Node process`,
      );
      // Warm-up (JIT, caches), one after the other.
      await load(mtls.port, files, '/verify', 2);
      await load(nginxPort, files, '/verify', 2);
      const rate = (r: Run) => r.connections / r.seconds;
      const rows: Array<Record<string, string | number>> = [];
      const ratios: number[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        const cpu0 = process.cpuUsage();
        const a = await load(mtls.port, files, '/verify');
        const cpuA = process.cpuUsage(cpu0);
        const la = loadavg();
        const ncpu0 = nginx.cpuSeconds();
        const n = await load(nginxPort, files, '/verify');
        const ncpu = nginx.cpuSeconds() - ncpu0;
        const ln = loadavg();
        ratios.push(rate(a) / rate(n));
        rows.push(
          {
            round,
            target: 'anvil GET /verify (mTLS listener)',
            handshakes: a.connections,
            'per second': Math.round(rate(a)),
            'bytes/response': a.bytesPerConnection,
            'server CPU µs/handshake': Math.round((cpuA.user + cpuA.system) / a.connections),
            'loadavg 1m': la[0].toFixed(2),
          },
          {
            round,
            target: `nginx ssl_verify_client on (${WORKERS} worker${WORKERS === 1 ? '' : 's'})`,
            handshakes: n.connections,
            'per second': Math.round(rate(n)),
            'bytes/response': n.bytesPerConnection,
            'server CPU µs/handshake': Math.round((ncpu * 1e6) / n.connections),
            'loadavg 1m': ln[0].toFixed(2),
          },
        );
      }
      console.table(rows);
      const mean = ratios.reduce((x, y) => x + y, 0) / ratios.length;
      console.log(`anvil/nginx per round: ${ratios.map((r) => r.toFixed(2)).join(', ')}; mean ${mean.toFixed(2)} (target >= 0.50)`);
      console.log(
        `os.loadavg() = ${loadavg()
          .map((x) => x.toFixed(2))
          .join(' ')} (other load on this machine skews both figures)`,
      );
    } finally {
      nginx.stop();
    }
  } finally {
    await anvil.close();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
