/**
 * Operator console accounts and their sessions: argon2id passwords, roles, sign-in with a rate
 * limit that never tells whether an account exists, and database sessions with an idle and an
 * absolute timeout (shared by every process on one database).
 */
import { createHash, randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import { audit, type Actor } from './audit.ts';
import { CaError, conflict, invalid, notFound } from './errors.ts';
import type { SessionRecord, Store, UserRecord, UserRole } from './store.ts';

export const USER_ROLES: readonly UserRole[] = ['admin', 'operator', 'auditor'];

export const isUserRole = (v: string): v is UserRole => (USER_ROLES as readonly string[]).includes(v);

/** What each role may do; the console and its routes ask this, never the role name. */
export const ROLE_PERMISSIONS = {
  // `ca-keys`: bringing a CA's private key in (issuer import) is an administrator's act, as on the API.
  admin: ['read', 'issue', 'revoke', 'profiles', 'issuers', 'ca-keys', 'users', 'judge', 'tokens'],
  // Operators create scoped API tokens for partners (never one with the admin scope: tokens.tsx).
  operator: ['read', 'issue', 'revoke', 'profiles', 'issuers', 'judge', 'tokens'],
  auditor: ['read', 'judge'],
} as const satisfies Record<UserRole, readonly string[]>;

export type Permission = (typeof ROLE_PERMISSIONS)[UserRole][number];

export function can(role: UserRole, permission: Permission): boolean {
  return (ROLE_PERMISSIONS[role] as readonly string[]).includes(permission);
}

export const USERNAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const PASSWORD_MIN = 12;
/** argon2 hashes whatever it is given: a cap keeps a megabyte "password" from costing the server. */
export const PASSWORD_MAX = 256;

/** OWASP's argon2id floor (19 MiB, 2 passes, 1 lane): about 45 ms on this class of machine. */
const ARGON2 = { algorithm: 2 /* Algorithm.Argon2id (a const enum) */ as const, memoryCost: 19_456, timeCost: 2, parallelism: 1 };

export interface SessionPolicy {
  idleMs: number;
  absoluteMs: number;
  /** Failed sign-ins allowed per account and per source address within `windowMs`. */
  maxFailuresPerAccount: number;
  maxFailuresPerAddress: number;
  windowMs: number;
}

export const DEFAULT_SESSION_POLICY: SessionPolicy = {
  idleMs: 30 * 60_000,
  absoluteMs: 12 * 3600_000,
  maxFailuresPerAccount: 5,
  maxFailuresPerAddress: 20,
  windowMs: 15 * 60_000,
};

/** lastSeenAt is written at most this often (or a quarter of a shorter idle timeout): a page load is not a database write. */
const TOUCH_EVERY_MS = 60_000;

export function hashPassword(password: string): Promise<string> {
  return hash(password, ARGON2);
}

/** A password for a new or reset account: 20 characters of base64url (120 bits), shown once. */
export function generatePassword(): string {
  return randomBytes(15).toString('base64url');
}

export const sessionIdHash = (token: string) => createHash('sha256').update(token).digest('hex');

/** The CSRF token of a session: derived from its secret cookie value, so nothing more is stored. */
export const csrfTokenOf = (token: string) => createHash('sha256').update(`anvil-csrf\0${token}`).digest('base64url');

export function checkPassword(password: string): void {
  if (password.length < PASSWORD_MIN) throw invalid('weak_password', `a password has at least ${PASSWORD_MIN} characters`);
  if (password.length > PASSWORD_MAX) throw invalid('invalid_password', `a password has at most ${PASSWORD_MAX} characters`);
}

export const userActor = (user: Pick<UserRecord, 'id' | 'username'>, source: string | null): Actor => ({
  id: user.id,
  name: `user:${user.username}`,
  source,
});

export interface SignedIn {
  /** The cookie value (the database keeps only its hash). */
  token: string;
  user: UserRecord;
}

export class Users {
  /** Verified against when the account does not exist, so both answers take the same time; made at the first sign-in, not at start-up. */
  private dummyHash: Promise<string> | undefined;

  constructor(private readonly deps: { store: Store; now: () => Date; policy: SessionPolicy }) {}

  /** The bootstrap account `admin`: with `password` as given, else a generated one to change at first sign-in. */
  async bootstrapAdmin(password: string | undefined, actor: Actor): Promise<string | undefined> {
    if (await this.deps.store.getUserByName('admin')) return undefined;
    const chosen = password ?? generatePassword();
    await this.deps.store.transaction(async (tx) => {
      const user = await tx.insertUser({
        username: 'admin',
        role: 'admin',
        passwordHash: await hashPassword(chosen),
        mustChangePassword: !password,
      });
      if (user)
        await tx.appendAudit({ ...audit(actor), action: 'user.create', target: 'admin', outcome: 'success', details: { role: 'admin' } });
    });
    return password ? undefined : chosen;
  }

  list(): Promise<UserRecord[]> {
    return this.deps.store.listUsers();
  }

  async user(id: string): Promise<UserRecord> {
    const user = await this.deps.store.getUser(id);
    if (!user) throw notFound('user_not_found', `no user with id ${id}`);
    return user;
  }

  /** Creates an account with a generated password (returned once; changed at first sign-in). */
  async create(params: { username: string; role: UserRole }, actor: Actor): Promise<{ user: UserRecord; password: string }> {
    if (!USERNAME.test(params.username)) {
      throw invalid('invalid_username', 'a username is 1-63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit');
    }
    if (!isUserRole(params.role)) throw invalid('invalid_role', `a role is one of ${USER_ROLES.join(', ')}`);
    const password = generatePassword();
    const passwordHash = await hashPassword(password);
    const user = await this.deps.store.transaction(async (tx) => {
      const row = await tx.insertUser({ username: params.username, role: params.role, passwordHash, mustChangePassword: true });
      if (!row) throw conflict('user_exists', `a user named ${params.username} exists`);
      await tx.appendAudit({
        ...audit(actor),
        action: 'user.create',
        target: row.id,
        outcome: 'success',
        details: { username: row.username, role: row.role },
      });
      return row;
    });
    return { user, password };
  }

  async setRole(id: string, role: UserRole, actor: Actor): Promise<UserRecord> {
    if (!isUserRole(role)) throw invalid('invalid_role', `a role is one of ${USER_ROLES.join(', ')}`);
    return this.change(id, actor, 'user.role', async (user) => {
      if (user.role === 'admin' && role !== 'admin') await this.keepOneAdmin(user.id);
      return { role };
    });
  }

  /** A new generated password (returned once); the account's sessions end and it must be changed at next sign-in. */
  async resetPassword(id: string, actor: Actor): Promise<{ user: UserRecord; password: string }> {
    const password = generatePassword();
    const passwordHash = await hashPassword(password);
    const user = await this.change(id, actor, 'user.reset_password', async () => ({ passwordHash, mustChangePassword: true }), true);
    return { user, password };
  }

  async disable(id: string, actor: Actor): Promise<UserRecord> {
    return this.change(
      id,
      actor,
      'user.disable',
      async (user) => {
        if (user.id === actor.id) throw new CaError('forbidden', 'cannot_disable_self', 'you cannot disable your own account');
        if (user.role === 'admin') await this.keepOneAdmin(user.id);
        return { disabledAt: this.deps.now() };
      },
      true,
    );
  }

  async enable(id: string, actor: Actor): Promise<UserRecord> {
    return this.change(id, actor, 'user.enable', async () => ({ disabledAt: null }));
  }

  /** The signed-in user's own change: the current password proves it is them; other sessions end. */
  async changeOwnPassword(params: {
    user: UserRecord;
    current: string;
    next: string;
    keepSession: string;
    source: string | null;
  }): Promise<UserRecord> {
    const actor = userActor(params.user, params.source);
    if (!(await verify(params.user.passwordHash, params.current).catch(() => false))) {
      throw invalid('wrong_password', 'the current password is not right');
    }
    checkPassword(params.next);
    if (params.next === params.current) throw invalid('same_password', 'choose a password different from the current one');
    const passwordHash = await hashPassword(params.next);
    return this.deps.store.transaction(async (tx) => {
      const user = await tx.updateUser(params.user.id, { passwordHash, mustChangePassword: false });
      if (!user) throw notFound('user_not_found', 'the account no longer exists');
      await tx.endUserSessions(user.id, this.deps.now(), sessionIdHash(params.keepSession));
      await tx.appendAudit({ ...audit(actor), action: 'user.change_password', target: user.id, outcome: 'success' });
      return user;
    });
  }

  /**
   * Signs in, or returns null: a wrong password, an unknown or disabled account and a throttled
   * one give the same null after the same work. Every attempt is audited.
   */
  async signIn(params: { username: string; password: string; source: string | null }): Promise<SignedIn | null> {
    const { store, policy, now } = this.deps;
    const username = params.username.trim().toLowerCase().slice(0, 64);
    const accountKey = `user:${username}`;
    const addressKey = `addr:${params.source ?? 'unknown'}`;
    const since = new Date(now().getTime() - policy.windowMs);
    const [accountFailures, addressFailures] = await Promise.all([
      store.countSignInFailures(accountKey, since),
      store.countSignInFailures(addressKey, since),
    ]);
    const throttled = accountFailures >= policy.maxFailuresPerAccount || addressFailures >= policy.maxFailuresPerAddress;
    const user = params.password.length <= PASSWORD_MAX ? await store.getUserByName(username) : null;
    const ok = await verify(
      user?.passwordHash ?? (await (this.dummyHash ??= hashPassword(generatePassword()))),
      params.password.slice(0, PASSWORD_MAX),
    ).catch(() => false);
    const anonymous: Actor = { id: 'anonymous', name: 'anonymous', source: params.source };
    if (!user || !ok || user.disabledAt || throttled) {
      await store.pruneSignInFailures(since);
      const why = throttled ? 'throttled' : !user ? 'unknown_user' : user.disabledAt ? 'disabled' : 'wrong_password';
      // The counted failure and its audit row commit together.
      await store.transaction(async (tx) => {
        await tx.recordSignInFailure([accountKey, addressKey], now());
        await tx.appendAudit({
          ...audit(anonymous),
          action: 'user.sign_in',
          target: username,
          outcome: 'failure',
          details: { code: why },
        });
      });
      return null;
    }
    const token = randomBytes(32).toString('base64url');
    await store.transaction(async (tx) => {
      await tx.clearSignInFailures(accountKey);
      const at = now();
      await tx.insertSession({
        idHash: sessionIdHash(token),
        userId: user.id,
        createdAt: at,
        lastSeenAt: at,
        expiresAt: new Date(at.getTime() + policy.absoluteMs),
      });
      await tx.appendAudit({ ...audit(userActor(user, params.source)), action: 'user.sign_in', target: user.id, outcome: 'success' });
    });
    return { token, user };
  }

  /** The session's user when the session is open, not idle too long, not past its end, and the user enabled. */
  async session(token: string): Promise<{ session: SessionRecord; user: UserRecord } | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
    const { store, policy, now } = this.deps;
    const idHash = sessionIdHash(token);
    const found = await store.getSession(idHash);
    if (!found) return null;
    const at = now();
    const { session, user } = found;
    if (session.endedAt) return null;
    if (at >= session.expiresAt || at.getTime() - session.lastSeenAt.getTime() > policy.idleMs || user.disabledAt) {
      await store.endSession(idHash, at);
      return null;
    }
    if (at.getTime() - session.lastSeenAt.getTime() > Math.min(TOUCH_EVERY_MS, policy.idleMs / 4)) await store.touchSession(idHash, at);
    return found;
  }

  async signOut(token: string, user: UserRecord, source: string | null): Promise<void> {
    await this.deps.store.transaction(async (tx) => {
      await tx.endSession(sessionIdHash(token), this.deps.now());
      await tx.appendAudit({ ...audit(userActor(user, source)), action: 'user.sign_out', target: user.id, outcome: 'success' });
    });
  }

  private async keepOneAdmin(leaving: string): Promise<void> {
    const admins = (await this.deps.store.listUsers()).filter((u) => u.role === 'admin' && !u.disabledAt && u.id !== leaving);
    if (admins.length === 0) throw conflict('last_admin', 'this is the last enabled admin: make another admin first');
  }

  private async change(
    id: string,
    actor: Actor,
    action: string,
    patchOf: (user: UserRecord) => Promise<Parameters<Store['updateUser']>[1]>,
    endSessions = false,
  ): Promise<UserRecord> {
    const current = await this.user(id);
    const patch = await patchOf(current);
    return this.deps.store.transaction(async (tx) => {
      const user = await tx.updateUser(id, patch);
      if (!user) throw notFound('user_not_found', `no user with id ${id}`);
      if (endSessions) await tx.endUserSessions(id, this.deps.now());
      const details = 'role' in patch ? { role: patch.role } : undefined;
      await tx.appendAudit({ ...audit(actor), action, target: id, outcome: 'success', details });
      return user;
    });
  }
}
