/**
 * The data directory is private (issue 8): the real server, started with a permissive umask,
 * creates ANVIL_DATA_DIR 0700 with every file 0600 (the key-encryption key and PGlite's files,
 * which PGlite itself creates 0666), and an existing directory open to other users is tightened
 * at start-up and says so in the log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const MAIN = join(ROOT, 'apps/server/src/main.ts');
const TSX = join(ROOT, 'node_modules/.bin/tsx');

let child: ChildProcess | undefined;
afterEach(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  child = undefined;
});

/** Starts `npm start`'s entry point with umask 000 and waits for "Anvil listening"; returns its log lines. */
async function startServer(dataDir: string): Promise<string[]> {
  const lines: string[] = [];
  // umask is set by the shell that execs the server, as an operator's login shell would.
  child = spawn('sh', ['-c', `umask 000 && exec "${TSX}" "${MAIN}"`], {
    cwd: ROOT,
    env: {
      ...process.env,
      ANVIL_DATA_DIR: dataDir,
      PORT: '0',
      ANVIL_MTLS_PORT: '0',
      LOG_LEVEL: 'info',
      NODE_ENV: 'production',
      DATABASE_URL: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buffer = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start:\n${buffer}`)), 60_000);
    const onData = (d: Buffer) => {
      buffer += d.toString();
      lines.push(...d.toString().split('\n').filter(Boolean));
      if (buffer.includes('mTLS listener ready')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child!.stdout!.on('data', onData);
    child!.stderr!.on('data', onData);
    child!.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code}):\n${buffer}`));
    });
  });
  return lines;
}

/** Mode of every path under `dir` (itself included), as "0700 d" / "0600 f", counted. */
function modes(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  const visit = (p: string) => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return;
    const key = `0${(st.mode & 0o777).toString(8)} ${st.isDirectory() ? 'd' : 'f'}`;
    out[key] = (out[key] ?? 0) + 1;
    if (st.isDirectory()) for (const e of readdirSync(p)) visit(join(p, e));
  };
  visit(dir);
  return out;
}

describe('the data directory', () => {
  it('is created 0700 with files 0600 under umask 000', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'anvil-datadir-')), 'data');
    await startServer(dataDir);
    const seen = modes(dataDir);
    expect(Object.keys(seen).sort()).toEqual(['0600 f', '0700 d']);
    expect(seen['0600 f']).toBeGreaterThan(100); // the KEK and PGlite's files
  });

  it('an existing directory open to others is tightened at start-up, and the log says so', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'anvil-datadir-')), 'data');
    mkdirSync(join(dataDir, 'pglite'), { recursive: true });
    chmodSync(dataDir, 0o777);
    writeFileSync(join(dataDir, 'notes.txt'), 'left by an operator\n', { mode: 0o666 });
    chmodSync(join(dataDir, 'notes.txt'), 0o666);
    const lines = await startServer(dataDir);
    expect(Object.keys(modes(dataDir)).sort()).toEqual(['0600 f', '0700 d']);
    const warning = lines.find((l) => l.includes('the data directory was readable by other users'));
    expect(warning, lines.join('\n')).toBeDefined();
  });
});
