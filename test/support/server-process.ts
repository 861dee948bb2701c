/** The real server process (`node --import tsx apps/server/src/main.ts`) for suites that need start-up itself: custody, restore, restarts. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';

/** Like harness.ts's, without importing the database package into a suite that only spawns processes. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface ServerProcess {
  base: string;
  child: ChildProcess;
  /** Everything the process wrote (stdout and stderr). */
  output: () => string;
  api: (method: string, path: string, body?: unknown) => Promise<{ status: number; text: string; body: any }>;
  stop: () => Promise<void>;
}

/** Starts the server with `env` over the test's environment (DATABASE_URL removed unless given). */
export async function startServer(env: Record<string, string>, token: string): Promise<ServerProcess> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const full: Record<string, string> = {
    ...(process.env as Record<string, string>),
    PORT: String(port),
    HOST: '127.0.0.1',
    ANVIL_MTLS_PORT: String(await freePort()),
    ANVIL_PUBLIC_URL: base,
    ANVIL_ADMIN_TOKEN: token,
    ANVIL_WORKERS: '1',
    LOG_LEVEL: 'info',
  };
  delete full.DATABASE_URL;
  Object.assign(full, env);
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/server/src/main.ts'], { env: full, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const closed = new Promise<void>((r) => child.once('close', () => r()));
  // Generous: on a loaded 2-core machine a first start (PGlite, migrations, two CA keys) has taken 70 s.
  const deadline = Date.now() + 300_000;
  while (!output.includes('Anvil listening') && child.exitCode === null && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  if (child.exitCode !== null) {
    await closed; // all of its output, not the part read before it exited
  } else if (!output.includes('Anvil listening')) {
    child.kill('SIGKILL');
    throw new Error(`the server did not listen within 300 s:\n${output}`);
  }
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, text, body: /^\s*[{[]/.test(text) ? JSON.parse(text) : null };
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  };
  return { base, child, output: () => output, api, stop };
}

/** Runs the server expecting it to refuse to start: its exit code and output. */
export async function failedStart(env: Record<string, string>, token: string): Promise<{ code: number | null; output: string }> {
  const s = await startServer(env, token);
  if (s.child.exitCode === null) {
    await s.stop();
    throw new Error(`the server started although it should have refused:\n${s.output()}`);
  }
  return { code: s.child.exitCode, output: s.output() };
}
