/** The doctor's findings as data: one Check per question; the text report and --json print the same list. */

export type Severity = 'error' | 'warning' | 'info';

/** Where a finding belongs, in the order the report shows them. */
export type Area = 'server' | 'request' | 'client' | 'handshake' | 'application';

export const AREA_TITLES: Record<Area, string> = {
  server: "The server's certificate",
  request: 'Did the server ask for a client certificate?',
  client: 'Your client certificate (checked locally, before connecting)',
  handshake: 'The handshake with your certificate',
  application: 'The application behind TLS',
};

export interface Check {
  /** Stable name, e.g. `client.eku`, for scripts reading --json. */
  id: string;
  area: Area;
  ok: boolean;
  /** How much a failed check matters; `info` for facts that are neither good nor bad. */
  severity: Severity;
  /** What was found, in plain words. */
  finding: string;
  /** What to change, when something should change. */
  fix?: string;
}

export const pass = (id: string, area: Area, finding: string): Check => ({ id, area, ok: true, severity: 'info', finding });

export const fail = (id: string, area: Area, finding: string, fix?: string, severity: Severity = 'error'): Check => ({
  id,
  area,
  ok: false,
  severity,
  finding,
  ...(fix ? { fix } : {}),
});

export const isProblem = (c: Check) => !c.ok && c.severity === 'error';
