/** `anvil judge`: present a client certificate to the mTLS listener and show how it was judged. */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { contextOf } from '../context.ts';
import { CliError } from '../errors.ts';
import { fetchVerdict, formatVerdict, verifyUrl } from '../judge.ts';

export function judgeCommand(): Command {
  return new Command('judge')
    .description('present a client certificate to the mTLS listener and show how it was judged')
    .argument('<url>', 'the mTLS listener, e.g. https://localhost:8443 (/verify is added)')
    .option('--cert <file>', 'client certificate to present, PEM (leaf first; add intermediates, e.g. fullchain.pem)')
    .option('--key <file>', 'its private key, PEM')
    .option('--cacert <file>', "trust for the listener's own certificate (default: the trust bundle from --url / ANVIL_URL)")
    .option('--insecure', "do not check the listener's own certificate")
    .option('--json', 'print the verdict as JSON')
    .addHelpText(
      'after',
      '\nExit status: 0 verified, 2 failed or absent, 1 when no verdict could be had.\n\nExample:\n  anvil judge https://localhost:8443 --cert partner-a/fullchain.pem --key partner-a/key.pem',
    )
    .action(async (target: string, opts: JudgeOptions, cmd: Command) => {
      const url = verifyUrl(target);
      if (Boolean(opts.cert) !== Boolean(opts.key)) throw new CliError('--cert and --key go together');
      const read = (path: string, what: string) => {
        try {
          return readFileSync(path, 'utf8');
        } catch (err) {
          throw new CliError(`cannot read the ${what}: ${(err as Error).message}`);
        }
      };
      let ca: string | undefined;
      if (opts.cacert) ca = read(opts.cacert, 'CA file');
      else if (!opts.insecure) {
        const ctx = contextOf(cmd);
        ca = Buffer.from(await ctx.client.bytes('/pki/trust-bundle.pem', { auth: false })).toString('utf8');
      }
      const verdict = await fetchVerdict(url, {
        cert: opts.cert ? read(opts.cert, 'certificate') : undefined,
        key: opts.key ? read(opts.key, 'key') : undefined,
        ca,
        insecure: opts.insecure,
      });
      process.stdout.write(`${opts.json ? JSON.stringify(verdict, null, 2) : formatVerdict(verdict)}\n`);
      if (verdict.status !== 'verified') process.exitCode = 2;
    });
}

interface JudgeOptions {
  cert?: string;
  key?: string;
  cacert?: string;
  insecure?: boolean;
  json?: boolean;
}
