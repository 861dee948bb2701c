/**
 * Runs the real `anvil` launcher (apps/cli/bin/anvil.js) in a child process. Asynchronous on
 * purpose: the test Anvil answering it lives in this process's event loop, which a spawnSync
 * would block.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../support/tools.ts';

export const ANVIL_BIN = fileURLToPath(new URL('../../apps/cli/bin/anvil.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `env` is all the child sees besides PATH and a private HOME (so no developer's
 * ~/.config/anvil/config.json or ANVIL_* variable leaks into a test).
 */
export function anvilCli(
  args: string[],
  env: Record<string, string | undefined> = {},
  options: { cwd?: string; home?: string } = {},
): Promise<CliResult> {
  const childEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: options.home ?? tempDir('anvil-cli-home-'),
    NO_COLOR: '1',
  };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [ANVIL_BIN, ...args],
      { env: childEnv, cwd: options.cwd, timeout: 60_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
