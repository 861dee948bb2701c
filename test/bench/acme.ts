/**
 * ACME throughput: complete RFC 8555 flows (order, http-01 validation, finalize, download) by
 * acme-client against an in-process Anvil listening on a loopback port, with a tiny http-01
 * responder here, at a fixed concurrency of accounts.
 *
 *   npm run bench:acme                                # 200 orders, concurrency 8, PGlite
 *   npm run bench:acme -- --n 1000 --concurrency 16
 *   ANVIL_TEST_DB=postgres npm run bench:acme         # a throwaway PostgreSQL database on 127.0.0.1:5432
 *
 * Prints orders/s and latency percentiles of a whole flow (each flow is about ten JWS requests,
 * one validation connection and one issuance), then checks that the database holds exactly one
 * certificate per completed order. Then, for comparison, the same server issues `n` certificates
 * from CSRs over the plain API (POST /api/v1/certificates over HTTP, same concurrency) and prints
 * that rate beside it. Test settings only: loopback is an allowed network here.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as acme from 'acme-client';
import { createTestAnvil } from '../support/harness.ts';
import { loadAverage } from './support.ts';

const { values } = parseArgs({
  options: { n: { type: 'string', default: '200' }, concurrency: { type: 'string', default: '8' } },
});
const n = Number(values.n);
const concurrency = Number(values.concurrency);
const PROFILE = 'acme-bench';

async function main(): Promise<void> {
  const answers = new Map<string, string>();
  const responder = createServer((req, res) => {
    const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '')?.[1];
    const body = token ? answers.get(token) : undefined;
    res.writeHead(body === undefined ? 404 : 200).end(body ?? '');
  });
  await new Promise<void>((r) => responder.listen(0, '127.0.0.1', r));
  const names = Array.from({ length: n }, (_, i) => `host-${i}.bench.test`);
  const anvil = await createTestAnvil({
    listen: true,
    acmeValidation: {
      httpPort: (responder.address() as AddressInfo).port,
      tlsPort: 1,
      hosts: new Map(names.map((name) => [name, '127.0.0.1'])),
      allowedNetworks: ['127.0.0.0/8'],
      dnsResolver: null,
      timeoutMs: 5000,
    },
    acmeLimits: { ordersPerAccountPerHour: 0, certificatesPerNamePerWeek: 0 },
  });
  try {
    const created = await anvil.api('POST', '/api/v1/profiles', {
      name: PROFILE,
      kind: 'server',
      policy: { sanTypes: ['dns'], acme: { enabled: true, challenges: ['http-01'] } },
    });
    if (created.status !== 201) throw new Error(`profile: ${created.status} ${await created.text()}`);
    const directoryUrl = `${anvil.publicUrl}/acme/${PROFILE}/directory`;
    const clients = await Promise.all(
      Array.from({ length: concurrency }, async () => {
        const client = new acme.Client({
          directoryUrl,
          accountKey: await acme.crypto.createPrivateEcdsaKey(),
          backoffMin: 20,
          backoffMax: 200,
        });
        await client.createAccount({ termsOfServiceAgreed: true });
        return client;
      }),
    );
    const csrs = await Promise.all(names.map(async (name) => (await acme.crypto.createCsr({ altNames: [name] }))[1]));

    const latencies: number[] = [];
    let next = 0;
    const load0 = loadAverage();
    const started = performance.now();
    await Promise.all(
      clients.map(async (client) => {
        for (let i = next++; i < n; i = next++) {
          const t0 = performance.now();
          const order = await client.createOrder({ identifiers: [{ type: 'dns', value: names[i] }] });
          const [authz] = await client.getAuthorizations(order);
          const challenge = authz.challenges.find((c) => c.type === 'http-01')!;
          answers.set(challenge.token, await client.getChallengeKeyAuthorization(challenge));
          await client.completeChallenge(challenge);
          await client.waitForValidStatus(challenge);
          const finalized = await client.finalizeOrder(await client.getOrder(order), csrs[i]);
          await client.getCertificate(finalized);
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(0);
    const stored = (await anvil.authority.certificateCounts()).filter((c) => c.profile === PROFILE).reduce((s, c) => s + c.count, 0);
    console.log(`ACME flows: ${n} orders, concurrency ${concurrency}, ${process.env.ANVIL_TEST_DB ?? 'pglite'}`);
    console.log(`  ${(n / seconds).toFixed(1)} orders/s over ${seconds.toFixed(1)} s`);
    console.log(`  latency ms: p50 ${pct(50)}  p90 ${pct(90)}  p99 ${pct(99)}  max ${pct(100)}`);
    console.log(`  load average: ${load0} -> ${loadAverage()}`);
    console.log(`  certificates stored: ${stored} (${stored === n ? 'one per order' : 'MISMATCH'})`);
    if (stored !== n) process.exitCode = 1;

    // The plain API on the same server, for the ratio: one POST per certificate, CSR in the body.
    const apiCsrs = await Promise.all(
      names.map(async (_, i) => (await acme.crypto.createCsr({ altNames: [`api-${i}.bench.test`] }))[1].toString()),
    );
    let apiNext = 0;
    const apiStarted = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let i = apiNext++; i < n; i = apiNext++) {
          const res = await fetch(`${anvil.publicUrl}/api/v1/certificates`, {
            method: 'POST',
            headers: { authorization: `Bearer ${anvil.token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ profile: PROFILE, csr: apiCsrs[i] }),
          });
          if (res.status !== 201) throw new Error(`POST /api/v1/certificates: ${res.status} ${await res.text()}`);
        }
      }),
    );
    const apiRate = n / ((performance.now() - apiStarted) / 1000);
    console.log(
      `plain API on the same server: ${apiRate.toFixed(1)} certificates/s (ACME is ${((n / seconds / apiRate) * 100).toFixed(0)}% of it)`,
    );
    console.log(`  load average after: ${loadAverage()}`);
  } finally {
    await anvil.authority.acme.settled();
    await new Promise((r) => responder.close(r));
    await anvil.close();
  }
}

await main();
