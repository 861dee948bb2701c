/** Terminal output: tables, durations, progress bars (on stderr, only when it is a terminal). */
import { chmodSync, writeFileSync } from 'node:fs';
import cliProgress from 'cli-progress';

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** "in 3d 4h", "5m ago". */
export function relative(at: Date, now = new Date()): string {
  const ms = at.getTime() - now.getTime();
  const abs = Math.abs(ms);
  const units: Array<[number, string]> = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'm'],
    [1000, 's'],
  ];
  const parts: string[] = [];
  let rest = abs;
  for (const [size, name] of units) {
    if (rest >= size && parts.length < 2) {
      parts.push(`${Math.floor(rest / size)}${name}`);
      rest %= size;
    }
  }
  const text = parts.join(' ') || '0s';
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

/** A progress bar for `total` steps; a no-op when stderr is not a terminal. */
export function progress(label: string, total: number) {
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {value}/{total} {extra}`, stream: process.stderr, hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { extra: '' });
  return {
    tick: (extra = '') => bar.increment(1, { extra }),
    update: (value: number, total?: number, extra = '') => {
      if (total !== undefined) bar.setTotal(total);
      bar.update(value, { extra });
    },
    stop: () => bar.stop(),
  };
}

/** Writes a file, refusing to replace one unless `force`. `mode` is applied even on replace. */
export function writeOut(path: string, content: string | Uint8Array, options: { mode?: number; force?: boolean } = {}) {
  const mode = options.mode ?? 0o644;
  writeFileSync(path, content, { mode, flag: options.force ? 'w' : 'wx' });
  chmodSync(path, mode); // an existing file keeps its old mode on replace, and umask narrows a new one
}
