/** First start of an Anvil: built-in profiles, the admin token, the console's admin user, a root and one issuing intermediate. */
import type { KeyAlgorithm } from '@anvil/pki';
import { SYSTEM_ACTOR } from './audit.ts';
import { ISSUING_NAME, ROOT_NAME, type IssuerRegistry } from './issuer-registry.ts';
import { BUILTIN_PROFILES } from './profiles.ts';
import type { Store } from './store.ts';
import { ADMIN_SCOPES, createToken, hashToken } from './tokens.ts';
import type { Users } from './users.ts';

export interface BootstrapResult {
  createdCa: boolean;
  /** The admin token, only when it was generated here (it is printed once and never stored in clear). */
  generatedAdminToken?: string;
  /** The console password of `admin`, only when it was generated here (printed once; changed at first sign-in). */
  generatedAdminPassword?: string;
}

/**
 * Creates what is missing and reuses what exists, under the store's start-up lock so that
 * processes starting together on one database create it once.
 */
export function bootstrap(
  deps: {
    store: Store;
    issuers: Pick<IssuerRegistry, 'load' | 'issuers' | 'createIssuer'>;
    users: Pick<Users, 'bootstrapAdmin'>;
    caKeyAlgorithm: KeyAlgorithm;
  },
  options: { adminToken?: string; adminPassword?: string } = {},
): Promise<BootstrapResult> {
  const { store, issuers } = deps;
  return store.withStartupLock(async () => {
    let createdCa = false;
    let generatedAdminToken: string | undefined;
    await store.transaction(async (tx) => {
      for (const p of BUILTIN_PROFILES) {
        if (!(await tx.getProfile(p.name))) await tx.upsertProfile(p);
      }
      if (options.adminToken) {
        if (!(await tx.findTokenByHash(hashToken(options.adminToken)))) {
          await createToken(tx, { name: 'admin', scopes: ADMIN_SCOPES, token: options.adminToken }, SYSTEM_ACTOR);
        }
      } else if (!(await tx.getSetting('admin_token_created'))) {
        generatedAdminToken = await createToken(tx, { name: 'admin', scopes: ADMIN_SCOPES }, SYSTEM_ACTOR);
      }
      await tx.putSetting('admin_token_created', true);
    });
    const generatedAdminPassword = await deps.users.bootstrapAdmin(options.adminPassword, SYSTEM_ACTOR);
    await issuers.load();
    if (issuers.issuers().length === 0) {
      const alg = deps.caKeyAlgorithm;
      await issuers.createIssuer({ name: ROOT_NAME, kind: 'root', keyAlgorithm: alg }, SYSTEM_ACTOR);
      await issuers.createIssuer({ name: ISSUING_NAME, kind: 'intermediate', keyAlgorithm: alg, parent: ROOT_NAME }, SYSTEM_ACTOR);
      createdCa = true;
    }
    return { createdCa, generatedAdminToken, generatedAdminPassword };
  });
}
