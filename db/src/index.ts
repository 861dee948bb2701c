/** The database package: stores over PGlite and PostgreSQL. */
export * from './client.ts';
export * from './errors.ts';
export { GroupCommit } from './group-commit.ts';
export { LEASE_MS as NOTICE_LEASE_MS } from './notification-listener.ts';
export * from './private-dir.ts';
export * from './store.ts';
export * as schema from './schema.ts';
