import { createHash, randomBytes } from 'node:crypto';

/** API tokens are stored as SHA-256 hashes; the token carries 256 bits of entropy, so no salt or KDF is needed. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function generateToken(): string {
  return `anvil_${randomBytes(32).toString('base64url')}`;
}

export const ADMIN_SCOPES = ['admin'];
