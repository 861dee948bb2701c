/** The Hono environment every app and sub-app of the server shares: what middleware puts on the context. */
import type { Logger } from 'pino';
import type { Actor } from '@anvil/ca';

export type AppEnv = {
  Variables: {
    requestId: string;
    log: Logger;
    actor: Actor;
    scopes: string[];
    clientAddress: string | null;
  };
};
