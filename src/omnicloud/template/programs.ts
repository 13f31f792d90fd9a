/**
 * Programs that evaluate an argument as code, as one table that is easy to extend: a value in
 * such a position is a load error, whatever quoting it has, because the program itself reads it as
 * a script (`sh -c CODE`, `python3 -c CODE`, `ssh host CMD…`, `awk PROGRAM`, `eval …`, …).
 * Wrappers (`timeout 5 CMD…`, `docker exec C CMD…`, `find … -exec CMD… ;`) are followed into the
 * command they run, so `timeout 5 sh -c {x}` is caught like `sh -c {x}`.
 *
 * The table reads argv words, so it serves both command templates run without a shell and every
 * simple command found in shell code. Literal shell code it finds (the script of `sh -c '…'`) is
 * handed back to the caller, which parses it with the values its positional parameters carry.
 */

/** One argv word as the analysis sees it. */
export interface ArgWord {
  /** The word's text when it is fully known (no placeholder, no expansion), else null. */
  text: string | null;
  /** Placeholders (or `$1`-style parameters carrying values) in the word. */
  values: readonly string[];
  /** A whole-word placeholder: an array value becomes several words. */
  splice: boolean;
}

export type ShellLang = 'posix' | 'bash' | 'mksh';

export interface Problem {
  /** The placeholder (or parameter) at fault. */
  value: string;
  reason: string;
  rewrite: string;
}

/** Literal shell code found in a code position, and the values its positional parameters carry. */
export interface NestedScript {
  code: string;
  lang: ShellLang;
  /** `$0`, `$1`, …: the values each carries (empty: none). */
  positional: ReadonlyArray<readonly string[]>;
  program: string;
}

export interface CallAnalysis {
  problems: Problem[];
  nested: NestedScript[];
}

/** How a program reads its arguments. */
export interface ProgramRule {
  what: string;
  /** Options that take a value (the next word, or `--opt=v` / `-oV` attached); a number: how many words. */
  valueOptions?: Readonly<Record<string, number>>;
  /** Unlisted options take a value (docker run): `flags` lists those that do not. */
  valueByDefault?: boolean;
  flags?: readonly string[];
  /** Options whose value is code (`python -c`, `perl -e`, `node --eval`); letters also count inside a cluster. */
  codeOptions?: readonly string[];
  /** Short letters that make the first operand code (`sh -c`, `bash -xc`). */
  codeFlags?: string;
  /** Code language of code positions: a shell (parsed further), or another language. */
  lang?: ShellLang | 'other';
  /** The first operand is the program text unless one of these options was given (awk, sed, jq). */
  programOperandUnless?: readonly string[];
  /** Every operand from this index on is code (eval: 0; ssh: 1, after the host; trap: only 0). */
  codeFrom?: number;
  codeTo?: number;
  /** After this many operands, the rest is a command line of its own (timeout DURATION CMD…). */
  wraps?: number;
  /** Operands are variable names: bash evaluates array subscripts in them (`unset 'a[$(cmd)]'`). */
  names?: boolean;
  /** A code option ends the options (python -c CODE ARGS…). */
  codeEndsOptions?: boolean;
  /** Options may follow operands (GNU getopt). */
  permute?: boolean;
  /** Only in shell code: shell builtins. */
  builtin?: boolean;
}

const SHELL_VALUE_OPTS = { '-o': 1, '+o': 1, '-O': 1, '+O': 1, '--rcfile': 1, '--init-file': 1 };
const shell = (lang: ShellLang): ProgramRule => ({ what: 'a shell', codeFlags: 'c', valueOptions: SHELL_VALUE_OPTS, lang });
const interp = (what: string, codeOptions: string[], valueOptions: Record<string, number> = {}): ProgramRule => ({ what, codeOptions, valueOptions, lang: 'other' });
const python = (): ProgramRule => ({ ...interp('Python', ['-c'], { '-m': 1, '-W': 1, '-X': 1, '-Q': 1 }), codeEndsOptions: true });
const wrapper = (what: string, valueOptions: Record<string, number> = {}, wraps = 0, extra: Partial<ProgramRule> = {}): ProgramRule => ({ what, valueOptions, wraps, ...extra });

/** The table. Keys are program names (basenames); versioned names (`python3.11`) match their base. */
export const PROGRAMS: Record<string, ProgramRule> = {
  sh: shell('posix'),
  dash: shell('posix'),
  ash: shell('posix'),
  posh: shell('posix'),
  yash: shell('posix'),
  bash: shell('bash'),
  rbash: shell('bash'),
  zsh: shell('bash'),
  ksh: shell('mksh'),
  mksh: shell('mksh'),
  lksh: shell('mksh'),
  oksh: shell('mksh'),
  fish: { ...shell('bash'), lang: 'other', valueOptions: { '-C': 1, '--init-command': 1 }, codeOptions: ['-C', '--init-command', '--command'] },
  csh: { ...shell('bash'), lang: 'other' },
  tcsh: { ...shell('bash'), lang: 'other' },
  pwsh: { what: 'PowerShell', codeOptions: ['-c', '-Command', '-command', '-EncodedCommand', '-e', '-ec'], lang: 'other' },
  powershell: { what: 'PowerShell', codeOptions: ['-c', '-Command', '-command', '-EncodedCommand', '-e', '-ec'], lang: 'other' },
  su: { what: 'su', codeOptions: ['-c', '--command', '--session-command'], valueOptions: { '-s': 1, '--shell': 1, '-g': 1, '--group': 1, '-G': 1, '--supp-group': 1, '-w': 1, '--whitelist-environment': 1 }, lang: 'posix' },
  runuser: { what: 'runuser', codeOptions: ['-c', '--command', '--session-command'], valueOptions: { '-s': 1, '--shell': 1, '-g': 1, '--group': 1, '-G': 1, '--supp-group': 1, '-u': 1, '-w': 1 }, lang: 'posix' },
  sudo: wrapper('sudo', { '-u': 1, '--user': 1, '-g': 1, '--group': 1, '-p': 1, '--prompt': 1, '-C': 1, '--close-from': 1, '-D': 1, '--chdir': 1, '-h': 1, '--host': 1, '-r': 1, '--role': 1, '-t': 1, '--type': 1, '-U': 1, '--other-user': 1, '-T': 1, '--command-timeout': 1, '-R': 1, '--chroot': 1 }),
  doas: wrapper('doas', { '-u': 1, '-a': 1, '-C': 1 }),
  pkexec: wrapper('pkexec', { '--user': 1 }),
  ssh: { what: 'a remote shell (ssh runs its command words through the remote shell)', valueOptions: Object.fromEntries('BbcDEeFIiJLlmOopQRSWw'.split('').map((l) => [`-${l}`, 1])), codeFrom: 1, lang: 'posix' },
  slogin: { what: 'a remote shell', valueOptions: Object.fromEntries('BbcDEeFIiJLlmOopQRSWw'.split('').map((l) => [`-${l}`, 1])), codeFrom: 1, lang: 'posix' },
  dbclient: { what: 'a remote shell', valueOptions: Object.fromEntries('ilpLRJWKIc'.split('').map((l) => [`-${l}`, 1])), codeFrom: 1, lang: 'posix' },
  rsh: { what: 'a remote shell', valueOptions: { '-l': 1 }, codeFrom: 1, lang: 'posix' },
  sshpass: wrapper('sshpass', { '-p': 1, '-f': 1, '-d': 1, '-P': 1 }),
  sg: { what: 'sg (its command runs through /bin/sh -c)', codeFrom: 1, lang: 'posix' },
  watch: { what: 'watch (its command runs through sh -c)', valueOptions: { '-n': 1, '--interval': 1, '-q': 1, '--equexit': 1 }, codeFrom: 0, lang: 'posix' },
  flock: { what: 'flock', codeOptions: ['-c', '--command'], valueOptions: { '-w': 1, '--timeout': 1, '-E': 1, '--conflict-exit-code': 1 }, lang: 'posix' },
  timeout: wrapper('timeout', { '-k': 1, '--kill-after': 1, '-s': 1, '--signal': 1 }, 1),
  nice: wrapper('nice', { '-n': 1, '--adjustment': 1 }),
  nohup: wrapper('nohup'),
  setsid: wrapper('setsid'),
  stdbuf: wrapper('stdbuf', { '-i': 1, '-o': 1, '-e': 1, '--input': 1, '--output': 1, '--error': 1 }),
  chroot: wrapper('chroot', { '--userspec': 1, '--groups': 1 }, 1),
  nsenter: wrapper('nsenter', { '-t': 1, '--target': 1, '-S': 1, '--setuid': 1, '-G': 1, '--setgid': 1, '-r': 0, '-w': 0 }),
  unshare: wrapper('unshare', { '--propagation': 1, '--setgroups': 1, '--map-user': 1, '--map-group': 1, '-S': 1, '-G': 1 }),
  ionice: wrapper('ionice', { '-c': 1, '--class': 1, '-n': 1, '--classdata': 1, '-p': 1 }),
  taskset: wrapper('taskset', {}, 1),
  chrt: wrapper('chrt', { '-T': 1, '-P': 1, '-D': 1 }, 1),
  time: wrapper('time', { '-f': 1, '--format': 1, '-o': 1, '--output': 1 }),
  strace: wrapper('strace', { '-o': 1, '-e': 1, '-p': 1, '-s': 1, '-u': 1, '-a': 1, '-E': 1 }),
  ltrace: wrapper('ltrace', { '-o': 1, '-e': 1, '-p': 1, '-s': 1, '-u': 1, '-a': 1 }),
  systemd_run: wrapper('systemd-run', { '-p': 1, '--property': 1, '-u': 1, '--unit': 1, '-E': 1, '--setenv': 1, '--uid': 1, '--gid': 1, '-M': 1, '--machine': 1, '--on-calendar': 1 }),
  xargs: wrapper('xargs', { '-a': 1, '--arg-file': 1, '-d': 1, '--delimiter': 1, '-E': 1, '-I': 1, '-L': 1, '--max-lines': 1, '-n': 1, '--max-args': 1, '-P': 1, '--max-procs': 1, '-s': 1, '--max-chars': 1, '--process-slot-var': 1 }),
  command: wrapper('command', {}, 0, { builtin: true }),
  builtin: wrapper('builtin', {}, 0, { builtin: true }),
  exec: wrapper('exec', { '-a': 1 }, 0, { builtin: true }),
  eval: { what: 'eval', codeFrom: 0, lang: 'posix', builtin: true },
  trap: { what: 'trap', codeFrom: 0, codeTo: 0, lang: 'posix', builtin: true },
  source: { what: 'source (it runs a file as code)', codeFrom: 0, codeTo: 0, lang: 'other', builtin: true },
  '.': { what: '. (it runs a file as code)', codeFrom: 0, codeTo: 0, lang: 'other', builtin: true },
  alias: { what: 'alias', codeFrom: 0, lang: 'other', builtin: true },
  let: { what: 'let (arithmetic runs code in bash)', codeFrom: 0, lang: 'other', builtin: true },
  unset: { what: 'unset', names: true, builtin: true },
  read: { what: 'read', names: true, valueOptions: { '-a': 1, '-d': 1, '-i': 1, '-n': 1, '-N': 1, '-p': 1, '-t': 1, '-u': 1 }, builtin: true },
  mapfile: { what: 'mapfile', names: true, valueOptions: { '-d': 1, '-n': 1, '-O': 1, '-s': 1, '-u': 1, '-C': 1, '-c': 1 }, codeOptions: ['-C'], builtin: true },
  readarray: { what: 'readarray', names: true, valueOptions: { '-d': 1, '-n': 1, '-O': 1, '-s': 1, '-u': 1, '-C': 1, '-c': 1 }, codeOptions: ['-C'], builtin: true },
  getopts: { what: 'getopts', names: true, builtin: true },
  printf: { what: 'printf -v (a variable name)', codeOptions: [], valueOptions: {}, builtin: true },
  python: python(),
  python2: python(),
  python3: python(),
  pypy: python(),
  pypy3: python(),
  perl: interp('Perl', ['-e', '-E', '-M', '-m'], { '-I': 1, '-x': 0 }),
  ruby: interp('Ruby', ['-e', '-r', '--require'], { '-I': 1, '-C': 1, '-E': 1 }),
  irb: interp('Ruby', ['-e', '-r'], { '-I': 1 }),
  node: interp('JavaScript', ['-e', '--eval', '-p', '--print', '-r', '--require', '--import', '--loader', '--experimental-loader'], { '--input-type': 1, '--conditions': 1, '-C': 1 }),
  nodejs: interp('JavaScript', ['-e', '--eval', '-p', '--print', '-r', '--require', '--import'], {}),
  bun: interp('JavaScript', ['-e', '--eval', '-p', '--print', '-r', '--preload'], {}),
  deno: { what: 'Deno', codeFrom: 1, codeTo: 1, lang: 'other' },
  php: interp('PHP', ['-r', '-B', '-R', '-E', '-F'], { '-d': 1, '-c': 1, '-f': 1, '-z': 1 }),
  lua: interp('Lua', ['-e', '-l'], {}),
  luajit: interp('Lua', ['-e', '-l', '-j'], {}),
  Rscript: interp('R', ['-e', '--expr'], {}),
  R: interp('R', ['-e'], { '-f': 1, '--file': 1 }),
  expect: interp('Tcl', ['-c'], { '-f': 1 }),
  osascript: interp('AppleScript', ['-e'], {}),
  dc: interp('dc', ['-e', '--expression'], { '-f': 1 }),
  awk: { what: 'awk', programOperandUnless: ['-f', '--file'], codeOptions: ['-e', '--source', '-i', '--include', '-l', '--load'], valueOptions: { '-F': 1, '-v': 1, '-f': 1, '--file': 1, '--field-separator': 1, '--assign': 1 }, lang: 'other' },
  sed: { what: 'sed', programOperandUnless: ['-e', '--expression', '-f', '--file'], codeOptions: ['-e', '--expression'], valueOptions: { '-f': 1, '--file': 1, '-l': 1, '--line-length': 1 }, lang: 'other', permute: true },
  jq: { what: 'jq', programOperandUnless: ['-f', '--from-file'], valueOptions: { '--arg': 2, '--argjson': 2, '--slurpfile': 2, '--rawfile': 2, '--indent': 1, '-L': 1, '-f': 1, '--from-file': 1 }, lang: 'other' },
  yq: { what: 'yq', programOperandUnless: ['--from-file'], valueOptions: { '--from-file': 1, '-I': 1, '--indent': 1, '-o': 1, '--output-format': 1, '-p': 1, '--input-format': 1 }, lang: 'other' },
  make: { what: 'make (a VAR=value operand is make code: $(shell …) runs)', valueOptions: { '-f': 1, '-C': 1, '-j': 1, '-o': 1, '-W': 1, '-I': 1, '-l': 1 }, lang: 'other' },
  tar: { what: 'tar', codeOptions: ['--to-command', '--use-compress-program', '-I', '--checkpoint-action', '--info-script', '-F', '--new-volume-script', '--rsh-command'], valueOptions: { '-f': 1, '--file': 1, '-C': 1, '--directory': 1, '-T': 1, '-X': 1, '-b': 1, '-H': 1, '-K': 1, '-L': 1, '-N': 1, '-g': 1, '-V': 1 }, lang: 'other', permute: true },
  rsync: { what: 'rsync', codeOptions: ['-e', '--rsh', '--rsync-path'], lang: 'other', permute: true },
  vagrant: { what: 'vagrant ssh -c', codeOptions: ['-c', '--command'], lang: 'posix', permute: true },
};
PROGRAMS['gawk'] = PROGRAMS['mawk'] = PROGRAMS['nawk'] = PROGRAMS['awk'] as ProgramRule;
PROGRAMS['gsed'] = PROGRAMS['sed'] as ProgramRule;
PROGRAMS['gojq'] = PROGRAMS['jaq'] = PROGRAMS['jq'] as ProgramRule;
PROGRAMS['gmake'] = PROGRAMS['make'] as ProgramRule;
PROGRAMS['gtar'] = PROGRAMS['bsdtar'] = PROGRAMS['tar'] as ProgramRule;
PROGRAMS['systemd-run'] = PROGRAMS['systemd_run'] as ProgramRule;
delete PROGRAMS['systemd_run'];
