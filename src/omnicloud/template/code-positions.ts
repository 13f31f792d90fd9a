/**
 * Finds the code positions of one simple command (its argv words) with the table of programs.ts,
 * following wrappers into the command they run. A value in a code position is a Problem; literal
 * shell code in one is returned for the caller to parse (with the values its `$1`… carry).
 */
import { PROGRAMS, type ArgWord, type CallAnalysis, type ProgramRule, type ShellLang } from './programs';

/** Not programs of their own: the analysis follows them to the command they name. */
const MAX_DEPTH = 8;
/** Dynamic words in an option region are tried as option and as operand; this bounds the branches. */
const MAX_BRANCHES = 64;

function basename(s: string): string {
  const b = s.slice(s.lastIndexOf('/') + 1);
  // python3.11 → python3, perl5.36 → perl5 → perl
  return PROGRAMS[b] ? b : b.replace(/\d+(\.\d+)*$/, '').replace(/[.-]$/, '');
}

function rewriteFor(rule: ProgramRule, value: string): string {
  if (rule.lang === 'posix' || rule.lang === 'bash' || rule.lang === 'mksh') {
    return `pass it as a positional parameter and quote it in the code: sh -c '… "$1" …' sh {${value}}`;
  }
  if (rule.names) return 'use a fixed variable name and pass the value as data';
  return `pass it as data the code reads (an argument after the code and after --, an environment variable through env, or a file), never inside the code`;
}

interface Scan {
  words: readonly ArgWord[];
  out: CallAnalysis;
  depth: number;
  inShell: boolean;
}

function flag(scan: Scan, rule: ProgramRule, w: ArgWord, reason: string): void {
  for (const v of w.values) scan.out.problems.push({ value: v, reason, rewrite: rewriteFor(rule, v) });
}

/** A literal code word: shell code is parsed further, other languages are accepted as written. */
function code(scan: Scan, rule: ProgramRule, prog: string, i: number, operandsAfter: readonly ArgWord[]): void {
  const w = scan.words[i] as ArgWord;
  if (w.values.length) {
    flag(scan, rule, w, `is in the code argument of ${prog} (${rule.what}), which runs it as code`);
    return;
  }
  if (w.text !== null && (rule.lang === 'posix' || rule.lang === 'bash' || rule.lang === 'mksh')) {
    scan.out.nested.push({ code: w.text, lang: rule.lang, positional: operandsAfter.map((o) => o.values), program: prog });
  }
}

/** Splits `--opt=value` and `-oVALUE` forms; returns the option name as written in the table. */
function optionOf(rule: ProgramRule, text: string): { name: string; attached: string | null } {
  if (text.startsWith('--')) {
    const eq = text.indexOf('=');
    return eq < 0 ? { name: text, attached: null } : { name: text.slice(0, eq), attached: text.slice(eq + 1) };
  }
  return { name: text, attached: null };
}

function valueCount(rule: ProgramRule, name: string): number {
  const n = rule.valueOptions?.[name];
  if (n !== undefined) return n;
  if (rule.codeOptions?.includes(name)) return 1;
  if (rule.valueByDefault && !(rule.flags ?? []).includes(name) && name.startsWith('--')) return 1;
  if (rule.valueByDefault && !(rule.flags ?? []).includes(name) && /^-[A-Za-z]$/.test(name)) return 1;
  return 0;
}

interface State {
  i: number;
  operands: number[];
  optionsDone: boolean;
  codeFlag: boolean;
  programGiven: boolean;
}

/** Reads a short option cluster (`-xec`, `-ne`, `-cCODE`); returns how many extra words it used. */
function shortCluster(scan: Scan, rule: ProgramRule, prog: string, st: State, text: string): number {
  const letters = text.slice(1);
  for (let k = 0; k < letters.length; k++) {
    const opt = `${text[0]}${letters[k]}`;
    const rest = letters.slice(k + 1);
    if (rule.codeFlags?.includes(letters[k] as string) && text[0] === '-') st.codeFlag = true;
    if (rule.codeOptions?.includes(opt)) {
      if (rule.programOperandUnless) st.programGiven = true;
      // python -c CODE ends the options: what follows is sys.argv.
      if (rule.codeEndsOptions) st.optionsDone = true;
      if (rest) return 0; // -cCODE: literal code attached
      if (st.i + 1 < scan.words.length) code(scan, rule, prog, st.i + 1, []);
      return 1;
    }
    if (rule.programOperandUnless?.includes(opt)) st.programGiven = true;
    const n = valueCount(rule, opt);
    if (n > 0) return rest ? n - 1 : n;
  }
  return 0;
}

function option(scan: Scan, rule: ProgramRule, prog: string, st: State, text: string): number {
  if (!text.startsWith('--') && (rule.codeOptions ?? []).some((o) => o.length > 2 && o === text)) {
    // single-dash long options (pwsh -Command, node -e is short)
    if (st.i + 1 < scan.words.length) code(scan, rule, prog, st.i + 1, []);
    return 1;
  }
  if (!text.startsWith('--')) return shortCluster(scan, rule, prog, st, text);
  const { name, attached } = optionOf(rule, text);
  if (rule.programOperandUnless?.includes(name)) st.programGiven = true;
  if (rule.codeOptions?.includes(name)) {
    if (rule.programOperandUnless) st.programGiven = true;
    if (attached !== null) return 0;
    if (st.i + 1 < scan.words.length) code(scan, rule, prog, st.i + 1, []);
    return 1;
  }
  return attached !== null ? 0 : valueCount(rule, name);
}

function isOption(rule: ProgramRule, text: string): boolean {
  if (text === '-' || text === '--') return false;
  return text.startsWith('-') || (text.startsWith('+') && rule.codeFlags !== undefined);
}

/** Reads options and operands; returns the operand indexes. Dynamic words branch (see analyseFrom). */
function readArgs(scan: Scan, rule: ProgramRule, prog: string, start: number, choice: (i: number) => 'option' | 'operand'): number[] {
  const st: State = { i: start, operands: [], optionsDone: false, codeFlag: false, programGiven: false };
  for (; st.i < scan.words.length; st.i++) {
    // A wrapper's command starts at its operand number `wraps`: the rest is the command's.
    if (rule.wraps !== undefined && st.operands.length > rule.wraps) break;
    const w = scan.words[st.i] as ArgWord;
    const optionRegion = !st.optionsDone && (st.operands.length === 0 || rule.permute === true);
    if (!optionRegion) {
      st.operands.push(st.i);
      continue;
    }
    if (w.text === null) {
      // After `sh -c` the first operand is the code (reported as such); before it, or with
      // options that take code, a value could be the option that makes a later word code.
      if (!st.codeFlag && (rule.codeFlags !== undefined || (rule.codeOptions?.length ?? 0) > 0)) {
        flag(scan, rule, w, `stands where ${prog} (${rule.what}) reads its options, one of which could make a value code`);
      }
      if (choice(st.i) === 'operand') st.operands.push(st.i);
      continue;
    }
    if (w.text === '--') st.optionsDone = true;
    else if (isOption(rule, w.text)) st.i += option(scan, rule, prog, st, w.text);
    else st.operands.push(st.i);
  }
  return finishOperands(scan, rule, prog, st);
}

function finishOperands(scan: Scan, rule: ProgramRule, prog: string, st: State): number[] {
  const ops = st.operands;
  if (st.codeFlag && ops.length) code(scan, rule, prog, ops[0] as number, ops.slice(1).map((o) => scan.words[o] as ArgWord));
  if (rule.programOperandUnless && !st.programGiven && ops.length) code(scan, rule, prog, ops[0] as number, []);
  if (rule.codeFrom !== undefined) {
    const to = rule.codeTo ?? ops.length - 1;
    for (let k = rule.codeFrom; k <= to && k < ops.length; k++) {
      const w = scan.words[ops[k] as number] as ArgWord;
      if (w.values.length) flag(scan, rule, w, `is in the code of ${prog} (${rule.what}), which runs it as code`);
    }
    // ssh/watch join their words into one script: only a single literal word is parsed further.
    const literal = ops.slice(rule.codeFrom, rule.codeTo === undefined ? undefined : rule.codeTo + 1).map((o) => (scan.words[o] as ArgWord).text);
    if (rule.lang !== 'other' && rule.lang !== undefined && literal.length && literal.every((t) => t !== null)) {
      scan.out.nested.push({ code: literal.join(' '), lang: rule.lang, positional: [], program: prog });
    }
  }
  if (rule.names && scan.inShell) {
    for (const o of ops) flag(scan, rule, scan.words[o] as ArgWord, `is read by ${prog} as a variable name, and bash runs code in an array subscript of one`);
  }
  return ops;
}

function analyseFrom(scan: Scan, start: number): void {
  if (scan.depth > MAX_DEPTH || start >= scan.words.length) return;
  const w0 = scan.words[start] as ArgWord;
  if (w0.text === null) return;
  const prog = basename(w0.text);
  const custom = CUSTOM[prog];
  if (custom) return custom(scan, start + 1, prog);
  const rule = PROGRAMS[prog];
  if (!rule || (rule.builtin && !scan.inShell && !['command', 'exec', 'builtin'].includes(prog))) return;
  if (prog === 'printf') return printfNames(scan, start + 1);
  const dynamic = scan.words.slice(start + 1).map((w, k) => (w.text === null ? start + 1 + k : -1)).filter((k) => k >= 0);
  const branches = Math.min(1 << Math.min(dynamic.length, 6), MAX_BRANCHES);
  const seen = new Set<string>();
  for (let b = 0; b < branches; b++) {
    const sub: Scan = { ...scan, out: { problems: [], nested: [] } };
    const ops = readArgs(sub, rule, prog, start + 1, (i) => ((b >> dynamic.indexOf(i)) & 1 ? 'operand' : 'option'));
    merge(scan, sub, seen);
    if (rule.wraps !== undefined && ops.length > rule.wraps) analyseFrom({ ...scan, depth: scan.depth + 1 }, ops[rule.wraps] as number);
  }
}

function merge(into: Scan, from: Scan, seen: Set<string>): void {
  for (const p of from.out.problems) {
    const k = `${p.value}\0${p.reason}`;
    if (!seen.has(k)) (seen.add(k), into.out.problems.push(p));
  }
  for (const n of from.out.nested) {
    const k = `n\0${n.code}\0${JSON.stringify(n.positional)}`;
    if (!seen.has(k)) (seen.add(k), into.out.nested.push(n));
  }
}

/**
 * `su [opts] [USER [ARGS…]]`: -c is code, and the arguments after the user go to the user's shell
 * (`su root -- -c CODE`). `runuser -u USER CMD…` runs a command instead.
 */
function su(scan: Scan, start: number, prog: string): void {
  const rule = PROGRAMS[prog] as ProgramRule;
  if (prog === 'runuser' && scan.words.slice(start).some((w) => w.text === '-u' || w.text?.startsWith('--user'))) {
    const ops = readArgs(scan, { ...rule, wraps: 0 }, prog, start, () => 'option');
    if (ops.length) analyseFrom({ ...scan, depth: scan.depth + 1 }, ops[0] as number);
    return;
  }
  const ops = readArgs(scan, { ...rule, wraps: undefined }, prog, start, () => 'option');
  if (ops.length < 2) return;
  const words: ArgWord[] = [{ text: 'sh', values: [], splice: false }, ...ops.slice(1).map((o) => scan.words[o] as ArgWord)];
  analyseFrom({ ...scan, words, depth: scan.depth + 1 }, 0);
}

/** `flock [opts] FILE -c CODE` or `flock [opts] FILE CMD…`. */
function flock(scan: Scan, start: number, prog: string): void {
  const rule = PROGRAMS['flock'] as ProgramRule;
  const ops = readArgs(scan, { ...rule, wraps: 0, codeOptions: [] }, prog, start, () => 'option');
  const file = ops[0];
  if (file === undefined) return;
  const next = scan.words[file + 1]?.text;
  if (next === '-c' || next === '--command') {
    if (file + 2 < scan.words.length) code(scan, rule, prog, file + 2, []);
  } else analyseFrom({ ...scan, depth: scan.depth + 1 }, file + 1);
}

/** `watch CMD…` runs its words through sh -c; `watch -x CMD…` runs the command itself. */
function watch(scan: Scan, start: number, prog: string): void {
  const rule = PROGRAMS['watch'] as ProgramRule;
  const exec = scan.words.slice(start).some((w) => w.text === '-x' || w.text === '--exec');
  const ops = readArgs(scan, exec ? { ...rule, codeFrom: undefined, wraps: 0 } : rule, prog, start, () => 'option');
  if (exec && ops.length) analyseFrom({ ...scan, depth: scan.depth + 1 }, ops[0] as number);
}

function printfNames(scan: Scan, start: number): void {
  if (!scan.inShell) return;
  const w = scan.words[start];
  if (w?.text === '-v' && scan.words[start + 1]?.values.length) {
    flag(scan, PROGRAMS['read'] as ProgramRule, scan.words[start + 1] as ArgWord, 'is read by printf -v as a variable name, and bash runs code in an array subscript of one');
  }
}

type Custom = (scan: Scan, start: number, prog: string) => void;

const DOCKER_GLOBAL = { '-H': 1, '--host': 1, '-c': 1, '--context': 1, '--config': 1, '-l': 1, '--log-level': 1, '--tlscacert': 1, '--tlscert': 1, '--tlskey': 1, '--url': 1, '--connection': 1, '--remote': 0, '--root': 1, '--runroot': 1 };
const DOCKER_RUN_FLAGS = ['-d', '--detach', '-i', '--interactive', '-t', '--tty', '--rm', '--privileged', '--init', '-P', '--publish-all', '--read-only', '--no-healthcheck', '--oom-kill-disable', '-q', '--quiet', '--disable-content-trust', '--help', '--sig-proxy', '--replace', '--no-hosts'];
const DOCKER_EXEC_FLAGS = ['-d', '--detach', '-i', '--interactive', '-t', '--tty', '--privileged', '--help'];

/** `docker|podman [global] exec|run|create [opts] CONTAINER|IMAGE CMD…` (also `container exec`, `compose exec|run SERVICE CMD…`). */
function containerCli(scan: Scan, start: number, prog: string): void {
  let i = start;
  const globals: ProgramRule = { what: prog, valueOptions: DOCKER_GLOBAL };
  while (i < scan.words.length && (scan.words[i] as ArgWord).text?.startsWith('-')) {
    const { name, attached } = optionOf(globals, (scan.words[i] as ArgWord).text as string);
    i += 1 + (attached === null ? valueCount(globals, name) : 0);
  }
  let sub = scan.words[i]?.text;
  if (sub === 'container' || sub === 'compose') sub = `${sub === 'compose' ? 'compose-' : ''}${scan.words[++i]?.text ?? ''}`;
  if (!sub || !['exec', 'run', 'create', 'compose-exec', 'compose-run'].includes(sub)) return;
  const exec = sub.endsWith('exec');
  const rule: ProgramRule = { what: `${prog} ${sub}`, valueByDefault: true, flags: exec ? DOCKER_EXEC_FLAGS : DOCKER_RUN_FLAGS, wraps: 1 };
  let entrypoint: ArgWord | undefined;
  for (let k = i + 1; k < scan.words.length; k++) {
    const t = (scan.words[k] as ArgWord).text;
    if (t === '--entrypoint') entrypoint = scan.words[k + 1];
    else if (t?.startsWith('--entrypoint=')) entrypoint = { text: t.slice('--entrypoint='.length), values: [], splice: false };
    if (t !== null && !t.startsWith('-')) break;
  }
  const ops = readArgs(scan, rule, `${prog} ${sub}`, i + 1, () => 'option');
  const cmdStart = ops[1];
  if (entrypoint && cmdStart !== undefined) {
    const words = [entrypoint, ...scan.words.slice(cmdStart)];
    analyseFrom({ ...scan, words, depth: scan.depth + 1 }, 0);
  } else if (cmdStart !== undefined) analyseFrom({ ...scan, depth: scan.depth + 1 }, cmdStart);
}

/** Wrappers that run what follows `--` (kubectl exec POD -- CMD, lxc exec NAME -- CMD, lxc-attach -n NAME -- CMD). */
function afterDashDash(scan: Scan, start: number): void {
  const k = scan.words.findIndex((w, j) => j >= start && w.text === '--');
  if (k >= 0) analyseFrom({ ...scan, depth: scan.depth + 1 }, k + 1);
}

/** find … -exec CMD … ; (also -execdir, -ok, -okdir; `+` ends too). */
function find(scan: Scan, start: number): void {
  for (let i = start; i < scan.words.length; i++) {
    const t = (scan.words[i] as ArgWord).text;
    if (t !== '-exec' && t !== '-execdir' && t !== '-ok' && t !== '-okdir') continue;
    let end = i + 1;
    while (end < scan.words.length && scan.words[end]?.text !== ';' && scan.words[end]?.text !== '+') end++;
    analyseFrom({ ...scan, words: scan.words.slice(0, end), depth: scan.depth + 1 }, i + 1);
    i = end;
  }
}

/** ip [opts] netns exec NAME CMD… */
function ip(scan: Scan, start: number): void {
  let i = start;
  while (scan.words[i]?.text?.startsWith('-')) i += ['-n', '-netns', '-b', '-batch', '-family', '-f', '-rc', '-rcvbuf'].includes(scan.words[i]?.text as string) ? 2 : 1;
  if (scan.words[i]?.text === 'netns' && scan.words[i + 1]?.text === 'exec') analyseFrom({ ...scan, depth: scan.depth + 1 }, i + 3);
  if (scan.words[i]?.text === '-b' || scan.words[i]?.text === '-batch') return;
}

/** env [opts] [NAME=VALUE…] CMD…; -S/--split-string splits a string into a command line. */
function env(scan: Scan, start: number): void {
  const rule: ProgramRule = { what: 'env -S (it splits the string into a command line)', valueOptions: { '-u': 1, '--unset': 1, '-C': 1, '--chdir': 1 }, codeOptions: ['-S', '--split-string'], lang: 'other' };
  let i = start;
  for (; i < scan.words.length; i++) {
    const w = scan.words[i] as ArgWord;
    if (w.text === null) break;
    if (w.text === '--') {
      i++;
      break;
    }
    if (w.text.startsWith('-')) {
      const st: State = { i, operands: [], optionsDone: false, codeFlag: false, programGiven: false };
      i += option(scan, rule, 'env', st, w.text);
      continue;
    }
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(w.text)) break;
  }
  while (i < scan.words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(scan.words[i]?.text ?? '')) i++;
  analyseFrom({ ...scan, depth: scan.depth + 1 }, i);
}

/** busybox APPLET ARGS… and toybox: the applet is the program. */
function multiCall(scan: Scan, start: number): void {
  analyseFrom({ ...scan, depth: scan.depth + 1 }, start);
}

/** sudo -s/-i CMD… runs the command through a shell, so every word of it is shell code. */
function sudo(scan: Scan, start: number, prog: string): void {
  const rule = PROGRAMS['sudo'] as ProgramRule;
  let viaShell = false;
  for (let i = start; i < scan.words.length; i++) {
    const t = scan.words[i]?.text;
    if (t === null || t === undefined || !t.startsWith('-') || t === '--') break;
    if (/^-[A-Za-z]*[si]/.test(t) || t === '--shell' || t === '--login') viaShell = true;
  }
  const ops = readArgs(scan, rule, prog, start, () => 'option');
  if (viaShell) for (const o of ops) flag(scan, { ...rule, lang: 'posix' }, scan.words[o] as ArgWord, `is in a command that sudo -s/-i runs through a shell`);
  else if (ops.length) analyseFrom({ ...scan, depth: scan.depth + 1 }, ops[0] as number);
}

/** make VAR=value: a command-line variable is make code ($(shell …) runs). */
function make(scan: Scan, start: number, prog: string): void {
  const rule = PROGRAMS['make'] as ProgramRule;
  for (const o of readArgs(scan, { ...rule, permute: true }, prog, start, () => 'operand')) {
    const w = scan.words[o] as ArgWord;
    if (w.values.length && (w.text === null || w.text.includes('='))) flag(scan, rule, w, 'is in a make variable assignment, which make expands as code ($(shell …))');
  }
}

const CUSTOM: Record<string, Custom> = {
  docker: containerCli,
  podman: containerCli,
  nerdctl: containerCli,
  kubectl: afterDashDash,
  oc: afterDashDash,
  lxc: afterDashDash,
  incus: afterDashDash,
  'lxc-attach': afterDashDash,
  'lxc-execute': afterDashDash,
  find,
  ip,
  env,
  busybox: multiCall,
  toybox: multiCall,
  sudo,
  su,
  runuser: su,
  flock,
  watch,
  make,
  gmake: make,
};

/** The problems and nested shell code of one simple command. */
export function analyseCall(words: readonly ArgWord[], inShell: boolean): CallAnalysis {
  const scan: Scan = { words, out: { problems: [], nested: [] }, depth: 0, inShell };
  analyseFrom(scan, 0);
  const out: Scan = { ...scan, out: { problems: [], nested: [] } };
  merge(out, scan, new Set());
  return out.out;
}

export type { ShellLang };
