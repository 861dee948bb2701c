/**
 * The server package's surface for clients (the CLI): types of the API's requests and answers,
 * derived from the zod schemas that validate them and drive the OpenAPI document. Types only:
 * importing them loads nothing of the server at run time.
 */
export type { App } from './app.ts';
export type { AppEnv } from './env.ts';
export type { Certificate, CertificatePage, IssueRequest } from './routes/api/schemas.ts';
export type { RevokeRequest } from './routes/api/revocation.ts';
export type { AuditChainReportView as AuditChainReport, AuditEntryView as AuditEntry } from './routes/api/audit.ts';
export type { VerdictBody as Verdict } from './routes/judge/pasted.ts';
export type { GatewayConfig } from './gateway/index.ts';
export type { CreatedToken, CreateTokenRequest, TokenView } from './routes/api/tokens.ts';
export type { CreatedInvitation, CreateInvitationRequest, InvitationView } from './routes/api/invitations.ts';
export type { CreatedEab, CreateEabRequest, EabView } from './routes/api/acme-eab.ts';
export type { ImportIssuerRequest, IssuerCertificateRequest, PendingIssuerRequest, PendingIssuerView } from './routes/api/issuer-import.ts';
