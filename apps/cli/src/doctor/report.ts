/** The doctor's report as text: checks grouped by area, each failure with its fix, the diagnosis last. */
import { AREA_TITLES, type Area, type Check } from './checks.ts';
import type { DoctorReport } from './doctor.ts';

const MARK = (c: Check) => (c.ok ? 'ok  ' : c.severity === 'error' ? 'FAIL' : 'warn');

export function formatReport(r: DoctorReport): string {
  const lines = [`anvil doctor ${r.url}`];
  for (const area of Object.keys(AREA_TITLES) as Area[]) {
    const inArea = r.checks.filter((c) => c.area === area);
    if (inArea.length === 0) continue;
    lines.push('', AREA_TITLES[area]);
    for (const c of inArea) {
      lines.push(`  [${MARK(c)}] ${c.finding}`);
      if (!c.ok && c.fix) lines.push(`         fix: ${c.fix}`);
    }
  }
  if (r.outcome.kind === 'answered' && r.outcome.http.body.trim())
    lines.push('', `Response body (first 500 bytes):`, indent(r.outcome.http.body.trimEnd()));
  lines.push('', r.ok ? 'Diagnosis: OK' : 'Diagnosis:');
  for (const d of r.diagnosis) lines.push(`  - ${d}`);
  return lines.join('\n');
}

const indent = (text: string) =>
  text
    .split('\n')
    .map((l) => `  | ${l}`)
    .join('\n');
