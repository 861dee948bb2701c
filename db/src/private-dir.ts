/**
 * The data directory is private: it holds the key-encryption key and the embedded database
 * (PGlite), which holds every CA key encrypted under it. Directories are 0700 and files 0600,
 * whatever the umask. PGlite itself gives the files it creates mode 0666 (its file system layer
 * sets it explicitly, umask or not): inside a 0700 directory no other user can reach them, and
 * `tightenTree` brings them to 0600 at start-up and periodically after.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

/**
 * Creates `dir` 0700 (and its missing parents), or tightens an existing one. Returns the paths
 * whose mode was changed, so the caller can say so.
 */
export function preparePrivateDir(dir: string): string[] {
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  return tightenTree(dir);
}

/** Every directory under `dir` (itself included) to 0700, every file to 0600; symlinks are left alone. */
export function tightenTree(dir: string): string[] {
  const changed: string[] = [];
  const visit = (path: string) => {
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return; // removed meanwhile (PGlite rotates files)
    }
    if (st.isSymbolicLink()) return;
    const want = st.isDirectory() ? DIR_MODE : FILE_MODE;
    if ((st.mode & 0o777) !== want) {
      try {
        chmodSync(path, want);
        changed.push(path);
      } catch {
        return;
      }
    }
    if (st.isDirectory()) for (const entry of readdirSync(path)) visit(join(path, entry));
  };
  visit(dir);
  return changed;
}
