/**
 * Where the server is and which token to send: flags win over the environment, which wins over
 * the config file ($ANVIL_CONFIG, else $XDG_CONFIG_HOME/anvil/config.json, else
 * ~/.config/anvil/config.json, holding {"url": "...", "token": "..."}).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CliError } from './errors.ts';

export const DEFAULT_URL = 'http://localhost:8080';

export interface Connection {
  /** Base URL of the HTTP listener, without a trailing slash. */
  url: string;
  token?: string;
  /** Where the token came from, for error messages (never the token itself). */
  tokenSource?: string;
  warnings: string[];
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ANVIL_CONFIG) return env.ANVIL_CONFIG;
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'anvil', 'config.json');
}

function readConfigFile(env: NodeJS.ProcessEnv): { url?: string; token?: string; path: string; warnings: string[] } {
  const path = configPath(env);
  const warnings: string[] = [];
  if (!existsSync(path)) {
    if (env.ANVIL_CONFIG) throw new CliError(`ANVIL_CONFIG points at ${path}, which does not exist`);
    return { path, warnings };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new CliError(`the config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new CliError(`the config file ${path} must hold a JSON object like {"url": "...", "token": "..."}`);
  }
  const { url, token } = parsed as Record<string, unknown>;
  if (url !== undefined && typeof url !== 'string') throw new CliError(`"url" in ${path} must be a string`);
  if (token !== undefined && typeof token !== 'string') throw new CliError(`"token" in ${path} must be a string`);
  if (token && process.platform !== 'win32' && (statSync(path).mode & 0o077) !== 0) {
    warnings.push(`${path} holds a token and is readable by others; chmod 600 it`);
  }
  return { url, token, path, warnings };
}

export function resolveConnection(flags: { url?: string; token?: string }, env: NodeJS.ProcessEnv = process.env): Connection {
  const file = readConfigFile(env);
  const url = flags.url ?? (env.ANVIL_URL || undefined) ?? file.url ?? DEFAULT_URL;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(`the server URL "${url}" is not a URL (expected something like ${DEFAULT_URL})`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new CliError(`the server URL must be http:// or https://, got ${parsed.protocol}`);
  }
  const [token, tokenSource] = flags.token
    ? [flags.token, '--token']
    : env.ANVIL_TOKEN
      ? [env.ANVIL_TOKEN, 'ANVIL_TOKEN']
      : file.token
        ? [file.token, file.path]
        : [undefined, undefined];
  return { url: url.replace(/\/+$/, ''), token, tokenSource, warnings: file.warnings };
}
