import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Interop suites need real tools. On a laptop a missing tool skips the suite loudly; under
 * CI=true it is a failure, never a skip.
 */
export function haveTool(command: string): boolean {
  const found = spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
  if (!found) {
    if (process.env.CI === 'true') throw new Error(`${command} is required under CI but is not installed (see .ci/run)`);
    console.warn(`\n  !!! SKIPPING: ${command} is not installed; install it to run this suite\n`);
  }
  return found;
}

export function tempDir(prefix = 'anvil-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writeFiles(dir: string, files: Record<string, string | Uint8Array>): Record<string, string> {
  const paths: Record<string, string> = {};
  for (const [name, content] of Object.entries(files)) {
    paths[name] = join(dir, name);
    writeFileSync(paths[name], content);
  }
  return paths;
}

/** Runs a tool and returns stdout+stderr and its exit status, never throwing on failure. */
export function run(command: string, args: string[], input?: string): { status: number; out: string } {
  const r = spawnSync(command, args, { input, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

export function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
