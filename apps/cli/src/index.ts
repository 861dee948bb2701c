/** The CLI's parts, for scripts that would rather call them than spawn `anvil`. */
export { ApiClient } from './client.ts';
export { resolveConnection, configPath, type Connection } from './config.ts';
export { keyAndCsr, parseSans, KEY_ALGORITHMS, type KeyAlgorithm, type Sans } from './csr.ts';
export { parseCrl, type CrlInfo } from './crl.ts';
export { ApiError, CliError } from './errors.ts';
export { fetchVerdict, formatVerdict, type Verdict } from './judge.ts';
export { buildProgram, run } from './program.ts';
