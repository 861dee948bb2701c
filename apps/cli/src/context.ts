/** What every command needs: the resolved connection, an API client and the output streams. */
import type { Command } from 'commander';
import type { Certificate } from '@anvil/server';
import { ApiClient } from './client.ts';
import { resolveConnection } from './config.ts';

export interface Context {
  client: ApiClient;
  out: (text: string) => void;
  warn: (text: string) => void;
}

export function contextOf(cmd: Command): Context {
  const globals = cmd.optsWithGlobals() as { url?: string; token?: string };
  const connection = resolveConnection({ url: globals.url, token: globals.token });
  const warn = (text: string) => process.stderr.write(`warning: ${text}\n`);
  for (const w of connection.warnings) warn(w);
  return { client: new ApiClient(connection), out: (text) => process.stdout.write(`${text}\n`), warn };
}

/** The API's certificate shape, derived from the server's CertificateSchema (a type-only import). */
export type CertificateView = Certificate;

export const collect = (value: string, previous: string[]) => [...previous, value];
