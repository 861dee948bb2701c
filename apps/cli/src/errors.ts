/** A failure to report to the user in plain words; `exitCode` is what the process ends with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** An RFC 9457 problem answered by the server. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly errors: Array<{ path: string; message: string }> = [],
    hint?: string,
  ) {
    super(detail, 1, hint);
  }
}

/** The text printed for an error: detail first, then the stable code and status, then hints. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    const lines = [`error: ${err.detail}`, `  code: ${err.code} (HTTP ${err.status})`];
    // validation_failed already lists every field in detail; keep it to one copy.
    if (err.hint) lines.push(`  hint: ${err.hint}`);
    return lines.join('\n');
  }
  if (err instanceof CliError) return err.hint ? `error: ${err.message}\n  hint: ${err.hint}` : `error: ${err.message}`;
  return `error: ${err instanceof Error ? err.message : String(err)}`;
}
