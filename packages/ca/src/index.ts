export * from './store.ts';
export * from './errors.ts';
export * from './key-custody.ts';
export * from './profiles.ts';
export * from './issuers.ts';
export * from './tokens.ts';
export * from './authority.ts';
