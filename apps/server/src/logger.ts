/** The pino logger: JSON lines, redaction of secrets, pretty output on a terminal. */
import pino, { type Logger } from 'pino';

/** JSON logs; readable (pino-pretty) when a person watches a terminal in development. */
export function createLogger(level: string): Logger {
  const pretty = process.stdout.isTTY && process.env.NODE_ENV !== 'production';
  return pino({
    level,
    // Belt and braces: these never belong in a log line.
    redact: {
      paths: [
        'privateKey',
        '*.privateKey',
        'token',
        '*.token',
        'authorization',
        '*.authorization',
        'password',
        '*.password',
        'pkcs12Password',
        '*.pkcs12Password',
        'pkcs12',
        '*.pkcs12',
        'kubernetesSecret',
        '*.kubernetesSecret',
      ],
      censor: '[redacted]',
    },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' } } } : {}),
  });
}
