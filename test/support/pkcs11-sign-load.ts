/**
 * Signs on a PKCS#11 token from many concurrent callers through Pkcs11KeyCustody, for a few
 * seconds, in its own process (run with tsx): a module that corrupts its state under concurrent
 * sessions kills this process (SIGSEGV, SIGABRT) instead of the test runner. Prints one line:
 * `signatures <n> in <ms> ms`. Settings from the environment: PKCS11_MODULE, PKCS11_TOKEN_LABEL,
 * PKCS11_PIN, SESSIONS, CONCURRENCY, SECONDS (and SOFTHSM2_CONF for SoftHSM2).
 */
import { Pkcs11KeyCustody } from '../../packages/ca/src/custody/pkcs11.ts';
import type { KeyCustody } from '../../packages/ca/src/key-custody.ts';

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};
const noSoftware: KeyCustody = {
  generate: () => Promise.reject(new Error('keys are made on the token here')),
  wrap: () => {
    throw new Error('no software keys here');
  },
  signer: () => {
    throw new Error('no software keys here');
  },
  softwareKey: () => null,
};
const custody = Pkcs11KeyCustody.open(
  {
    module: env('PKCS11_MODULE'),
    tokenLabel: env('PKCS11_TOKEN_LABEL'),
    pin: env('PKCS11_PIN'),
    generateOn: 'token',
    sessions: Number(process.env.SESSIONS ?? 4),
  },
  noSoftware,
);
const key = await custody.generate(`load-${process.pid}`, 'EC-P256');
const signer = custody.signer({ name: 'load', keyAlgorithm: 'EC-P256', ...key });
const data = new Uint8Array(256);
const started = Date.now();
const until = started + Number(process.env.SECONDS ?? 2) * 1000;
let signatures = 0;
await Promise.all(
  Array.from({ length: Number(process.env.CONCURRENCY ?? 16) }, async () => {
    while (Date.now() < until) {
      await signer.sign(data);
      signatures++;
    }
  }),
);
console.log(`signatures ${signatures} in ${Date.now() - started} ms`);
custody.close();
