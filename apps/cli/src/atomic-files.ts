/** Replacing files in place, atomically: temporary file in the same directory, fsync, rename. */
// A reader (nginx, a cron job, a crash) sees the old file or the new one, never half of one; the
// temporary file sits in the target's own directory so the rename stays on one filesystem, and
// staging every file before the first rename keeps a failure from leaving a new certificate beside
// an old key.
import { closeSync, existsSync, fchmodSync, fsyncSync, openSync, realpathSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

export interface Replacement {
  path: string;
  content: string;
  /** 0o600 for private keys, 0o644 for certificates. */
  mode: number;
}

interface Staged {
  target: string;
  temp: string;
}

/**
 * Where a write to `path` should land: through a symbolic link (certbot's live/ directory) to the
 * file it names, so the link survives the rename.
 */
function targetOf(path: string): string {
  return existsSync(path) ? realpathSync(path) : path;
}

function stage(file: Replacement): Staged {
  const target = targetOf(file.path);
  const temp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  // 'wx' with the mode: a key is never readable by others, not even for an instant.
  const fd = openSync(temp, 'wx', file.mode);
  try {
    fchmodSync(fd, file.mode); // exactly the mode asked for: umask would narrow a certificate's 0644
    const bytes = Buffer.from(file.content, 'utf8');
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw err;
  }
  closeSync(fd);
  return { target, temp };
}

function fsyncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // some filesystems refuse to fsync a directory; the rename is still atomic
  }
}

/** Stages every file, then renames each over its target; on a staging failure nothing is replaced. */
export function replaceFilesAtomically(files: Replacement[]): void {
  const staged: Staged[] = [];
  try {
    for (const f of files) staged.push(stage(f));
  } catch (err) {
    for (const s of staged) rmSync(s.temp, { force: true });
    throw err;
  }
  const renamed = new Set<number>();
  try {
    staged.forEach((s, i) => {
      renameSync(s.temp, s.target);
      renamed.add(i);
    });
  } finally {
    staged.forEach((s, i) => {
      if (!renamed.has(i)) rmSync(s.temp, { force: true });
    });
  }
  for (const dir of new Set(staged.map((s) => dirname(s.target)))) fsyncDirectory(dir);
}
