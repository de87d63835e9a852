/** Quotes one word for a POSIX shell: plain words stay as they are, anything else is single-quoted. */
export function shellQuote(word: string): string {
  if (word.includes('\0')) throw new Error('a NUL byte cannot be passed to a shell');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A command line from an argument vector, every word quoted. */
export function shellCommand(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error('empty command');
  return argv.map(shellQuote).join(' ');
}

/** A command line of the domain (programs run in order) as one shell command. */
export function renderCommandLine(line: { steps: { argv: string[] }[] }): string {
  return line.steps.map((s) => shellCommand(s.argv)).join(' && ');
}
