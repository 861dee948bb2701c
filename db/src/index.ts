export * from './client.ts';
export * from './store.ts';
export * as schema from './schema.ts';
