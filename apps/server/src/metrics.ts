/**
 * Prometheus metrics, served at GET /metrics. Every name starts with `anvil_`.
 *
 * The registry is created per app (main.ts creates one and hands it to createApp through
 * `AppDeps.metrics`), never a module singleton: tests build several apps in one process, and
 * each must count only its own traffic.
 *
 * How other code counts (the route files receive `metrics` from createApp):
 *
 *   // revocation, once the row is committed:
 *   metrics.certificatesRevoked.inc({ profile: record.profile, issuer: issuerName, reason });
 *   // OCSP responder, once per answer (good | revoked | unknown | malformed | unauthorized | ...):
 *   metrics.ocspResponses.inc({ status: 'good' });
 *   // the judge, once per verdict, from /verify, POST /api/v1/judge and proxy headers alike:
 *   metrics.judgeVerdicts.inc({ status: verdict.status, reason: verdict.reason ?? 'none' });
 *   // CRL freshness: give a provider, at creation or later (read at scrape time):
 *   metrics.setCrlStatusProvider(async () => [{ issuer: 'issuing-ca', number: 12n, thisUpdate }]);
 *
 * Label values must come from validated data (profile and issuer names that exist, RFC 5280
 * reason names, verdict enums), never straight from a request, so the series stay bounded.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CaError } from '@anvil/ca';

/** One issuer's latest CRL, as the CRL publisher knows it. */
export interface CrlStatus {
  issuer: string;
  number: bigint | number | string;
  thisUpdate: Date;
}

export type CrlStatusProvider = () => Promise<CrlStatus[]> | CrlStatus[];

export interface MetricsOptions {
  /** Feeds anvil_crl_number and anvil_crl_age_seconds; without one those gauges stay empty. */
  crlStatus?: CrlStatusProvider;
  /** Process metrics (CPU, memory, event loop, GC) as anvil_process_* / anvil_nodejs_*. Default true. */
  processMetrics?: boolean;
  /** Clock for anvil_crl_age_seconds; tests pin it. */
  now?: () => Date;
}

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics(options: MetricsOptions = {}) {
  const registry = new Registry();
  const registers = [registry];
  const now = options.now ?? (() => new Date());
  let crlStatus = options.crlStatus;

  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'anvil_' });

  const readCrls = async (): Promise<CrlStatus[]> => (crlStatus ? await crlStatus() : []);

  const metrics = {
    registry,

    certificatesIssued: new Counter({
      name: 'anvil_certificates_issued_total',
      help: 'Certificates issued (idempotent replays are not counted)',
      labelNames: ['profile', 'issuer'] as const,
      registers,
    }),

    certificatesRevoked: new Counter({
      name: 'anvil_certificates_revoked_total',
      help: 'Certificates revoked, by RFC 5280 reason name',
      labelNames: ['profile', 'issuer', 'reason'] as const,
      registers,
    }),

    issuanceDuration: new Histogram({
      name: 'anvil_issuance_duration_seconds',
      help: 'Time to answer an issuance request (key generation, policy, signing, commit); outcome issued | replayed | refused | error',
      labelNames: ['outcome'] as const,
      // EC issuance takes milliseconds; a generated RSA-4096 key takes a second or more.
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),

    ocspResponses: new Counter({
      name: 'anvil_ocsp_responses_total',
      help: 'OCSP responses sent, by certificate status or error status',
      labelNames: ['status'] as const,
      registers,
    }),

    judgeVerdicts: new Counter({
      name: 'anvil_judge_verdicts_total',
      help: 'Judge verdicts, by status and reason ("none" when verified or absent)',
      labelNames: ['status', 'reason'] as const,
      registers,
    }),

    crlNumber: new Gauge({
      name: 'anvil_crl_number',
      help: 'CRL number of the latest CRL per issuer',
      labelNames: ['issuer'] as const,
      registers,
      async collect() {
        this.reset();
        for (const crl of await readCrls()) this.set({ issuer: crl.issuer }, Number(crl.number));
      },
    }),

    crlAge: new Gauge({
      name: 'anvil_crl_age_seconds',
      help: 'Seconds since thisUpdate of the latest CRL per issuer (alert well before nextUpdate)',
      labelNames: ['issuer'] as const,
      registers,
      async collect() {
        this.reset();
        const at = now().getTime();
        for (const crl of await readCrls()) this.set({ issuer: crl.issuer }, Math.max(0, (at - crl.thisUpdate.getTime()) / 1000));
      },
    }),

    /** Late wiring for the CRL publisher, when it is built after the metrics. */
    setCrlStatusProvider(provider: CrlStatusProvider | undefined) {
      crlStatus = provider;
    },
  };
  return metrics;
}

/**
 * Times one issuance call and counts it. `result` must name the profile and issuer of what was
 * issued; `replayed` issuances are timed but not counted again.
 */
export async function observeIssuance<T extends { replayed: boolean }>(
  metrics: Metrics | undefined,
  issue: () => Promise<T>,
  labels: (result: T) => { profile: string; issuer: string },
): Promise<T> {
  if (!metrics) return issue();
  const end = metrics.issuanceDuration.startTimer();
  try {
    const result = await issue();
    end({ outcome: result.replayed ? 'replayed' : 'issued' });
    if (!result.replayed) metrics.certificatesIssued.inc(labels(result));
    return result;
  } catch (err) {
    end({ outcome: err instanceof CaError ? 'refused' : 'error' });
    throw err;
  }
}

/** The `onRevoked` hook of revocationRoutes: one count per certificate whose status changed. */
export function countRevocations(metrics: Metrics, issuerName: (issuerId: string) => string) {
  return (record: { profile: string; issuerId: string; revocationReason: string | null }) => {
    let issuer = 'unknown';
    try {
      issuer = issuerName(record.issuerId);
    } catch {
      // an issuer this process has not loaded: still count the revocation
    }
    metrics.certificatesRevoked.inc({ profile: record.profile, issuer, reason: record.revocationReason ?? 'unspecified' });
  };
}

/** The `onAnswer` hook of ocspRoutes: one count per certificate status (or error status) answered. */
export function countOcspAnswers(metrics: Metrics) {
  return (statuses: string[]) => {
    for (const status of statuses) metrics.ocspResponses.inc({ status });
  };
}
