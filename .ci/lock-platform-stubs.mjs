// npm ci refuses a lock that lacks entries for other platforms' optional packages (rollup's and
// turbo's native builds). This workplace's registry mirror answers 404 for those, so `npm install`
// here cannot record them. Add platform-tagged stubs: npm skips them on this platform and ci passes.
// Idempotent; run after `npm install` changes the lock, and by .ci/run before `npm ci`.
import { readFileSync, writeFileSync } from 'node:fs';

const path = process.argv[2] ?? 'package-lock.json';
const lock = JSON.parse(readFileSync(path, 'utf8'));
const pkgs = lock.packages;

function platformOf(name) {
  const n = name.split('/').pop();
  const os = [['android'], ['darwin'], ['freebsd'], ['openbsd'], ['openharmony'], ['win32'], ['windows', 'win32'], ['linux']]
    .map(([k, v = k]) => (n.includes(k) ? v : null))
    .find(Boolean);
  const cpu = /arm64/.test(n)
    ? 'arm64'
    : /(^|-)arm(-|$)|arm-eabi|gnueabihf|musleabihf/.test(n)
      ? 'arm'
      : /ia32/.test(n)
        ? 'ia32'
        : /loong64/.test(n)
          ? 'loong64'
          : /ppc64/.test(n)
            ? 'ppc64'
            : /riscv64/.test(n)
              ? 'riscv64'
              : /s390x/.test(n)
                ? 's390x'
                : 'x64';
  const libc = os === 'linux' ? (n.includes('musl') ? ['musl'] : ['glibc']) : undefined;
  return { os: [os ?? 'unknown'], cpu: [cpu], ...(libc ? { libc } : {}) };
}

let added = 0;
for (const [at, entry] of Object.entries(pkgs)) {
  for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const nested = at ? `${at}/node_modules/${dep}` : `node_modules/${dep}`;
    if (pkgs[nested] || pkgs[`node_modules/${dep}`]) continue;
    pkgs[`node_modules/${dep}`] = { version, dev: true, optional: true, ...platformOf(dep) };
    added++;
  }
}
if (added) {
  lock.packages = Object.fromEntries(Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)));
  writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
}
console.log(`lock-platform-stubs: added ${added} stub(s)`);
