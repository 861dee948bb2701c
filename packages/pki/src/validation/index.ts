/** The judge's public surface. */
export {
  createJudge,
  judgeChain,
  JudgeInputError,
  JUDGE_REASONS,
  MAX_PRESENTED,
  type ExpectName,
  type Judge,
  type JudgeChainParams,
  type JudgeCheck,
  type JudgeConfig,
  type JudgeOptions,
  type JudgeReason,
  type JudgeStatus,
  type OpensslResult,
  type RevocationLookup,
  type RevocationLookupResult,
  type RevocationSummary,
  type Verdict,
  type VerifyEvent,
  type VerifyTrace,
} from './judge.ts';
export { HAPROXY_VERIFY_DEPTH, KONG_MESSAGES, haproxyVerdict, kongMessage, type HaproxyVerdict } from './gateway-verdicts.ts';
export {
  STRICT_RULES,
  STRICT_VERIFIERS,
  strictVerify,
  type StrictCheck,
  type StrictPathEntry,
  type StrictRule,
  type StrictVerdict,
  type StrictVerifier,
} from './strict-verify.ts';
export { X509_V, x509ErrorName, x509ErrorString } from './openssl-codes.ts';
export { OPENSSL_VERIFY_CONTINUES } from './openssl-verify.ts';
