export * from './pem.ts';
export * from './oids.ts';
export * from './keys.ts';
export * from './signer.ts';
