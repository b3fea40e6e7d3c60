// POSIX shell quoting for the scripts the host writes for the lab (job.sh, setup.sh). Every value
// that comes from the caller (argv, environment, paths) goes through shQuote, so no value can
// be read by the shell as syntax.

/** One POSIX sh word that expands to exactly `value`. */
export function shQuote(value: string): string {
  if (value.includes('\0')) {
    throw new TypeError('a shell word cannot contain a NUL byte');
  }
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** True for names the shell accepts in `export NAME=...`. */
export function isShellName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);
}
