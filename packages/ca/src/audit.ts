/** Who acts, and how an actor is written into the audit trail (every state change names one). */
export interface Actor {
  id: string;
  name: string;
  source: string | null;
}

/** Anvil itself: bootstrap, OCSP responder certificates. */
export const SYSTEM_ACTOR: Actor = { id: 'system', name: 'system', source: null };

/** The actor and source columns of an audit row. */
export function audit(actor: Actor) {
  return { actor: actor.name === actor.id ? actor.id : `${actor.name} (${actor.id})`, source: actor.source };
}
