/** `anvil doctor`: run the mTLS troubleshooting workflow against any TLS server and say what is wrong and what to change. */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { runDoctor, PROBLEM_FOUND } from '../doctor/doctor.ts';
import { formatReport } from '../doctor/report.ts';
import { parseTarget } from '../doctor/target.ts';
import { CliError } from '../errors.ts';

export function doctorCommand(): Command {
  return new Command('doctor')
    .description('diagnose mutual TLS with any server: its certificate, whether it asks for yours, and why yours is refused')
    .argument('<url>', 'the server, e.g. https://api.example.com:8443/path (the path is requested after the handshake)')
    .requiredOption('--cert <file>', 'client certificate, PEM (leaf first, then intermediates: fullchain.pem)')
    .requiredOption('--key <file>', 'its private key, PEM (used only to sign the handshake; never printed, written or sent)')
    .option('--cacert <file>', "trust for the server's certificate, PEM (default: Node's public CA list)")
    .option(
      '--expect-client-id <id>',
      'text the application should answer with (in the body or x-ssl-client-* / x-client-* headers), e.g. your CN',
    )
    .option('--json', 'print the checks and the diagnosis as JSON')
    .addHelpText(
      'after',
      '\nExit status: 0 all good, 2 a problem found, 1 usage or unreadable files, 3 the server cannot be reached.\n\nExample:\n  anvil doctor https://api.partner.test:8443/ --cert fullchain.pem --key key.pem --cacert server-ca.pem',
    )
    .action(async (url: string, opts: DoctorOptions) => {
      const target = parseTarget(url);
      const read = (path: string, what: string) => {
        try {
          return readFileSync(path, 'utf8');
        } catch (err) {
          throw new CliError(
            `cannot read the ${what}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? `${path}: no such file` : (err as Error).message}`,
          );
        }
      };
      const report = await runDoctor({
        target,
        cert: read(opts.cert, 'certificate'),
        key: read(opts.key, 'key'),
        ca: opts.cacert ? read(opts.cacert, 'CA file') : undefined,
        expectClientId: opts.expectClientId,
      });
      process.stdout.write(`${opts.json ? JSON.stringify(report, null, 2) : formatReport(report)}\n`);
      if (!report.ok) process.exitCode = PROBLEM_FOUND;
    });
}

interface DoctorOptions {
  cert: string;
  key: string;
  cacert?: string;
  expectClientId?: string;
  json?: boolean;
}
