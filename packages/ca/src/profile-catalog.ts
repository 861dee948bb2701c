/** The profiles an operator manages (built-ins and their own), and the short-lived copy issuance reads. */
import { audit, type Actor } from './audit.ts';
import { conflict, invalid, notFound } from './errors.ts';
import { checkPolicy, type Profile, type ProfileKind, type ProfilePolicy } from './profiles.ts';
import type { Store, StoreTx } from './store.ts';

const PROFILE_CACHE_MS = 1_000;
/** What a profile may be called (the API schema uses the same): it appears in URLs. */
export const PROFILE_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;

export interface ProfileParams {
  name: string;
  kind: ProfileKind;
  policy: ProfilePolicy;
}

export class ProfileCatalog {
  /**
   * Profiles as issuance reads them, for PROFILE_CACHE_MS: the lookup was one of five database
   * round trips per certificate. A change saved here applies at once; one saved by another
   * process sharing the database applies within PROFILE_CACHE_MS (as tokens do within 5 s).
   */
  private readonly cache = new Map<string, { profile: Profile; until: number }>();
  private generation = 0;

  constructor(
    private readonly deps: {
      store: Store;
      /** Refuses a policy naming an issuer that does not exist (throws). */
      checkIssuer: (name: string) => void;
    },
  ) {}

  async profile(name: string, tx: StoreTx = this.deps.store): Promise<Profile> {
    // Only names a profile can have reach the database (a NUL would make it fail, not miss).
    const row = PROFILE_NAME.test(name) ? await tx.getProfile(name) : null;
    if (!row) throw notFound('unknown_profile', `no profile named "${name}"`);
    return row as Profile;
  }

  async listProfiles(): Promise<Profile[]> {
    return (await this.deps.store.listProfiles()) as Profile[];
  }

  /** The profile for an issuance: from the short-lived cache, else the store. Unknown names are not cached. */
  async issuanceProfile(name: string): Promise<Profile> {
    const hit = this.cache.get(name);
    const started = Date.now();
    if (hit && hit.until > started) return hit.profile;
    const generation = this.generation;
    const profile = await this.profile(name);
    // A save that raced this read must not be shadowed by the older row.
    if (generation === this.generation) {
      if (this.cache.size >= 1000) this.cache.clear();
      this.cache.set(name, { profile, until: started + PROFILE_CACHE_MS });
    }
    return profile;
  }

  /** Drops cached copies of profiles changed elsewhere in this process (a rotation moves their issuer). */
  forget(names: string[]): void {
    this.generation++;
    for (const name of names) this.cache.delete(name);
  }

  async saveProfile(params: ProfileParams, mode: 'create' | 'update', actor: Actor): Promise<Profile> {
    checkPolicy(params.policy);
    if (params.policy.issuer) this.deps.checkIssuer(params.policy.issuer);
    try {
      return await this.saveProfileRow(params, mode, actor);
    } finally {
      this.generation++;
      this.cache.delete(params.name);
    }
  }

  private saveProfileRow(params: ProfileParams, mode: 'create' | 'update', actor: Actor): Promise<Profile> {
    return this.deps.store.transaction(async (tx) => {
      const existing = await tx.getProfile(params.name);
      if (mode === 'create' && existing) throw conflict('profile_exists', `a profile named "${params.name}" exists`);
      if (mode === 'update' && !existing) throw notFound('unknown_profile', `no profile named "${params.name}"`);
      if (existing && existing.kind !== params.kind) {
        throw invalid('profile_kind_change', 'a profile keeps its kind; create a new profile instead');
      }
      const profile: Profile = { name: params.name, kind: params.kind, builtin: existing?.builtin ?? false, policy: params.policy };
      await tx.upsertProfile(profile);
      await tx.appendAudit({
        ...audit(actor),
        action: `profile.${mode}`,
        target: params.name,
        outcome: 'success',
        details: { policy: params.policy },
      });
      return profile;
    });
  }
}
