/** The Hono environment every app and sub-app of the server shares: what middleware puts on the context. */
import type { Logger } from 'pino';
import type { Actor, TokenLimits } from '@anvil/ca';

export type AppEnv = {
  Variables: {
    requestId: string;
    log: Logger;
    actor: Actor;
    scopes: string[];
    /** The token's issuance limits; null for a token without limits. */
    tokenLimits: TokenLimits | null;
    /** Certificates per minute the token may issue (its own limit or the default); null: unlimited. */
    issueRateLimit: number | null;
    /** A partner token's id: reads and revocations cover only certificates it requested. Null: all certificates. */
    certificateOwner: string | null;
    clientAddress: string | null;
  };
};
