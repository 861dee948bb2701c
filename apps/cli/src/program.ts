/** The `anvil` command tree (commander): connection settings, subcommands, exit codes. */
import { Command, CommanderError } from 'commander';
import { auditCommand } from './commands/audit.ts';
import { caCommand } from './commands/ca.ts';
import { crlCommand } from './commands/crl.ts';
import { doctorCommand } from './commands/doctor.ts';
import { downloadCommand } from './commands/download.ts';
import { enrollCommand } from './commands/enroll.ts';
import { gatewayCommand } from './commands/gateway.ts';
import { inviteCommand } from './commands/invite.ts';
import { issueCommand } from './commands/issue.ts';
import { issuerCommand } from './commands/issuer.ts';
import { judgeCommand } from './commands/judge.ts';
import { listCommand } from './commands/list.ts';
import { renewCommand } from './commands/renew.ts';
import { revokeCommand } from './commands/revoke.ts';
import { tokenCommand } from './commands/token.ts';
import { acmeCommand } from './commands/acme.ts';
import { configPath, DEFAULT_URL } from './config.ts';
import { CliError, describeError } from './errors.ts';

export function buildProgram(): Command {
  const program = new Command('anvil')
    .description('Command line for Anvil, a private certificate authority for mutual TLS')
    .version('0.1.0')
    .option('--url <url>', `server URL (env ANVIL_URL; default ${DEFAULT_URL})`)
    .option('--token <token>', 'API token (env ANVIL_TOKEN; prefer the environment or the config file: flags show in ps)')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `\nSettings: flags, then ANVIL_URL / ANVIL_TOKEN, then the config file\n  ${configPath()}  (or $ANVIL_CONFIG), JSON: {"url": "...", "token": "..."}`,
    );
  for (const cmd of [issueCommand(), revokeCommand(), listCommand(), downloadCommand(), crlCommand(), judgeCommand()]) {
    program.addCommand(cmd);
  }
  program.addCommand(renewCommand());
  program.addCommand(auditCommand());
  program.addCommand(tokenCommand());
  program.addCommand(inviteCommand());
  program.addCommand(enrollCommand());
  program.addCommand(gatewayCommand());
  program.addCommand(doctorCommand());
  program.addCommand(caCommand());
  program.addCommand(issuerCommand());
  program.addCommand(acmeCommand());
  return program;
}

/** Runs the CLI; returns the exit status instead of exiting, so callers decide. */
export async function run(argv: string[]): Promise<number> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode; // commander printed the message
    process.stderr.write(`${describeError(err)}\n`);
    return err instanceof CliError ? err.exitCode : 1;
  }
}
