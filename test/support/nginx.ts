/**
 * A real nginx on loopback ports for interop suites and benchmarks: one `server` block per
 * configuration, `daemon off`, everything under one temporary prefix.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';

function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Debian's nginx-light puts the binary in /usr/sbin, often not on a user's PATH. */
export const NGINX_BIN: string | null = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : which('nginx');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port: number, proc: ChildProcess, logPath: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`nginx exited early:\n${readFileSync(logPath, 'utf8')}`);
    const ok = await new Promise<boolean>((resolve) => {
      const c = createConnection({ port, host: '127.0.0.1' }, () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx did not listen on ${port}:\n${readFileSync(logPath, 'utf8')}`);
}

export interface NginxTlsServer {
  port: number;
  /** Server certificate chain and key (paths). */
  certPath: string;
  keyPath: string;
  /** ssl_client_certificate (path). */
  clientCaPath: string;
  /** ssl_crl (path), when revocation is checked. */
  crlPath?: string;
  /** ssl_verify_client (default optional). */
  verifyClient?: 'on' | 'optional';
  /** ssl_verify_depth (default 3). */
  depth?: number;
}

export interface RunningNginx {
  prefix: string;
  /** CPU seconds (user + system) used so far by nginx and its workers. */
  cpuSeconds(): number;
  stop(): void;
}

/** utime + stime of a process and its reaped children, from /proc (Linux only; 0 elsewhere). */
function procCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[11..14]: utime stime cutime cstime (clock ticks, 100 per second on Linux)
    return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return 0;
  }
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Every server answers any path with `$ssl_client_verify`. With `optional`, a failed
 * verification ends in error 495 before any location runs: error_page sends it to the same
 * answer, so the verdict is visible for failures too (as in judge-parity.test.ts).
 */
export function nginxConf(prefix: string, servers: NginxTlsServer[], workerProcesses = 1): string {
  const blocks = servers.map(
    (s) => `
  server {
    listen 127.0.0.1:${s.port} ssl;
    ssl_certificate ${s.certPath};
    ssl_certificate_key ${s.keyPath};
    ssl_session_tickets off;
    ssl_verify_client ${s.verifyClient ?? 'optional'};
    ssl_client_certificate ${s.clientCaPath};
    ssl_verify_depth ${s.depth ?? 3};${s.crlPath ? `\n    ssl_crl ${s.crlPath};` : ''}
    error_page 495 496 =200 @verdict;
    location / { return 200 "$ssl_client_verify"; }
    location @verdict { return 200 "$ssl_client_verify"; }
  }`,
  );
  return `daemon off;
${workerProcesses > 1 ? `worker_processes ${workerProcesses};` : 'master_process off;'}
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log ${workerProcesses > 1 ? 'error' : 'info'};
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_timeout 0;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
${blocks.join('\n')}
}
`;
}

export async function startNginx(prefix: string, servers: NginxTlsServer[], workerProcesses = 1): Promise<RunningNginx> {
  if (!NGINX_BIN) throw new Error('nginx is not installed');
  mkdirSync(join(prefix, 'tmp'), { recursive: true });
  const confPath = join(prefix, 'nginx.conf');
  writeFileSync(confPath, nginxConf(prefix, servers, workerProcesses));
  const logPath = join(prefix, 'error.log');
  writeFileSync(logPath, '');
  const proc = spawn(NGINX_BIN, ['-p', prefix, '-c', confPath, '-e', logPath], { stdio: 'ignore' });
  for (const s of servers) await waitForPort(s.port, proc, logPath);
  return {
    prefix,
    cpuSeconds: () => [proc.pid!, ...childPids(proc.pid!)].reduce((a, p) => a + procCpuSeconds(p), 0),
    stop: () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
    },
  };
}
