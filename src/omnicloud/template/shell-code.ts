/**
 * Shell code analysed with a real parser, mvdan-sh (the parser of shfmt, mvdan/sh compiled to
 * JavaScript). Its own chunk (dist/shellParser.js): only a template that is shell code, or quotes
 * or escapes a word, loads it, and the provider loader caches what it finds (analysis-cache.ts).
 *
 * Each placeholder is replaced by an inert stand-in word (`%OMNI_<n>%`) before parsing, and found
 * again in the syntax tree, where its context decides:
 * - argv templates (one simple command, nothing a shell would expand): words after quote removal;
 * - shell code: the quoting context of each placeholder (bare, "…", '…'), so that rendering can put
 *   a double-quoted environment variable there (`"${OMNI_P0}"`) — the value never becomes text;
 * - load errors where a value could be read as code: comments, here-documents and here-strings,
 *   `${…}`, arithmetic, backticks, `$'…'`, variable names, and the code positions of the programs
 *   table (eval, sh -c, python -c, ssh, …), also through wrappers and nested shell scripts whose
 *   positional parameters (`sh -c '…' sh {x}`) carry values.
 */
import { syntax, type Node } from 'mvdan-sh';
import { analyseCall } from './code-positions';
import type { ArgWord, Problem, ShellLang } from './programs';
import { problemText, STAND_IN, TemplateSyntaxError, type CompiledCommand, type Quote, type WordPart } from './shell';
import type { Segment } from './placeholders';

const LANGS: Record<ShellLang, number> = { posix: syntax.LangPOSIX, bash: syntax.LangBash, mksh: syntax.LangMirBSDKorn };
const parsers = new Map<ShellLang, ReturnType<typeof syntax.NewParser>>();

function parse(src: string, lang: ShellLang): Node {
  let p = parsers.get(lang);
  if (!p) parsers.set(lang, (p = syntax.NewParser(syntax.KeepComments(true), syntax.Variant(LANGS[lang]))));
  try {
    return p.Parse(src, 'template');
  } catch (e) {
    const msg = e && typeof (e as { Error?: unknown }).Error === 'function' ? (e as { Error(): string }).Error() : String(e);
    throw new TemplateSyntaxError(`is not valid ${lang === 'posix' ? 'POSIX sh' : lang} code: ${msg.replace(/^template:/, '')}`);
  }
}

const type = (n: Node): string => syntax.NodeType(n);

/** Every node of a subtree with its ancestors. */
function walk(root: Node, visit: (n: Node, ancestors: readonly Node[]) => void): void {
  const stack: Node[] = [];
  syntax.Walk(root, (n) => {
    if (n === null) {
      stack.pop();
      return true;
    }
    visit(n, stack);
    stack.push(n);
    return true;
  });
}

interface Ctx {
  src: Buffer;
  /** Stand-in index → placeholder name. */
  names: readonly string[];
  /** Shell parameters that carry values (`1`, `@`, a variable assigned from one) → the values. */
  tainted: Map<string, string[]>;
  problems: Problem[];
  depth: number;
}

function standIns(text: string, ctx: Ctx): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(STAND_IN)) out.push(ctx.names[Number(m[1])] as string);
  return out;
}

function slice(ctx: Ctx, from: number, to: number): string {
  return ctx.src.subarray(from, to).toString('utf8');
}

/** The values a node's text carries: placeholders and tainted parameters. */
function valuesIn(n: Node, ctx: Ctx): string[] {
  const out = new Set<string>();
  walk(n, (x) => {
    const t = type(x);
    if (t === 'Lit' || t === 'SglQuoted') for (const v of standIns(x.Value as string, ctx)) out.add(v);
    if (t === 'ParamExp' && x.Param) for (const v of ctx.tainted.get(x.Param.Value as string) ?? []) out.add(v);
  });
  return [...out];
}

/** Tainted expansions directly in a word (not in "…"): split into fields and globbed. */
function unquotedTaint(word: Node, ctx: Ctx): string[] {
  const out: string[] = [];
  for (const part of word.Parts as Node[]) {
    const t = type(part);
    if (t === 'ParamExp' || t === 'CmdSubst') out.push(...valuesIn(part, ctx).filter((v) => !standInOnly(part, ctx, v)));
  }
  return out;
}

function standInOnly(part: Node, ctx: Ctx, v: string): boolean {
  return type(part) === 'Lit' && standIns(part.Value as string, ctx).includes(v);
}

/** A word's literal text after quote removal, or null when it expands anything. */
function literal(word: Node, ctx: Ctx): string | null {
  let s = '';
  for (const part of word.Parts as Node[]) {
    const t = type(part);
    if (t === 'Lit') s += unescapeBare(part.Value as string);
    else if (t === 'SglQuoted' && !part.Dollar) s += part.Value as string;
    else if (t === 'DblQuoted' && !part.Dollar && (part.Parts as Node[]).every((p) => type(p) === 'Lit')) s += (part.Parts as Node[]).map((p) => unescapeDq(p.Value as string)).join('');
    else return null;
  }
  return standIns(s, ctx).length ? null : s;
}

export function unescapeBare(s: string): string {
  return s.replace(/\\([\s\S])/g, (_, c: string) => (c === '\n' ? '' : c));
}

function unescapeDq(s: string): string {
  return s.replace(/\\([$`"\\\n])/g, (_, c: string) => (c === '\n' ? '' : c));
}

function argWord(word: Node, ctx: Ctx): ArgWord {
  const parts = word.Parts as Node[];
  const only = parts.length === 1 ? parts[0] : undefined;
  const splice = only !== undefined && type(only) === 'Lit' && /^%OMNI_\d+%$/.test(only.Value as string);
  return { text: literal(word, ctx), values: valuesIn(word, ctx), splice };
}

function add(ctx: Ctx, value: string, reason: string, rewrite: string): void {
  ctx.problems.push({ value, reason, rewrite });
}

/** Variables assigned from values carry them too (flow-insensitive, to a fixpoint). */
function propagate(file: Node, ctx: Ctx): void {
  let shifts = false;
  for (let round = 0; round < 5; round++) {
    let changed = false;
    const mark = (name: string, values: string[]) => {
      if (!values.length) return;
      const had = ctx.tainted.get(name) ?? [];
      const next = [...new Set([...had, ...values])];
      if (next.length !== had.length) (ctx.tainted.set(name, next), (changed = true));
    };
    walk(file, (n) => {
      const t = type(n);
      if (t === 'Assign' && n.Name && n.Value) mark(n.Name.Value as string, valuesIn(n.Value, ctx));
      if (t === 'WordIter' && n.Name) mark(n.Name.Value as string, (n.Items as Node[]).flatMap((w) => valuesIn(w, ctx)));
      if (t === 'CallExpr' && (n.Args as Node[]).length) {
        const w0 = literal((n.Args as Node[])[0] as Node, ctx);
        if (w0 === 'shift' || w0 === 'set') shifts = true;
        if (w0 === 'read') for (const w of (n.Args as Node[]).slice(1)) if (literal(w, ctx) && !literal(w, ctx)?.startsWith('-')) mark(literal(w, ctx) as string, []);
      }
    });
    if (shifts) {
      const all = [...new Set([...ctx.tainted.entries()].filter(([k]) => /^[1-9@*]$|^\d+$/.test(k)).flatMap(([, v]) => v))];
      for (const k of ['1', '2', '3', '4', '5', '6', '7', '8', '9', '@', '*']) mark(k, all);
    }
    if (!changed) break;
  }
}

const ARITH_TESTS = new Set(['-eq', '-ne', '-lt', '-le', '-gt', '-ge']);
const REWRITE_OUT = 'move it out of there: pass it as an argument of a command ("{x}" in an argument is safe)';

/** Checks one node in its context; placeholders found where a value would be code are problems. */
function check(n: Node, up: readonly Node[], ctx: Ctx): void {
  const t = type(n);
  const inside = (types: string[]) => up.some((a) => types.includes(type(a)));
  if (t === 'Comment') for (const v of standIns(n.Text as string, ctx)) add(ctx, v, 'is in a comment: a newline in the value ends the comment and the rest runs', 'move it out of the comment');
  if (t === 'Lit' || t === 'SglQuoted') {
    const vs = standIns(n.Value as string, ctx);
    if (!vs.length) return;
    if (inside(['ParamExp'])) vs.forEach((v) => add(ctx, v, "is inside '${…}', where the shell reads it as an operator's operand", 'put the value in a variable first: x={x}; … "${x}" …'));
    else if (inside(['ArithmExp', 'ArithmCmd', 'LetClause'])) vs.forEach((v) => add(ctx, v, 'is inside arithmetic, which bash evaluates as code (array subscripts run commands)', 'check the number in the provider (param_patterns) and pass it as an argument'));
    else if (up.some((a) => type(a) === 'CmdSubst' && a.Backquotes)) vs.forEach((v) => add(ctx, v, 'is inside backticks, whose text the shell reads again', 'use $(…) instead of backticks'));
    else if (t === 'SglQuoted' && n.Dollar) vs.forEach((v) => add(ctx, v, "is inside $'…', which interprets escapes", "use '…' or \"…\""));
    else if (up.some((a) => type(a) === 'DblQuoted' && a.Dollar)) vs.forEach((v) => add(ctx, v, 'is inside $"…", a translated string', 'use "…"'));
    else if (inside(['FuncDecl']) && up[up.length - 1] && type(up[up.length - 1] as Node) === 'FuncDecl') vs.forEach((v) => add(ctx, v, 'names a function', 'use a fixed name'));
    return;
  }
  if (t === 'Redirect') return checkRedirect(n, ctx);
  if (t === 'BinaryTest' || t === 'UnaryTest') return checkTest(n, ctx);
  if (t === 'Assign' && n.Index) for (const v of valuesIn(n.Index, ctx)) add(ctx, v, 'is in an array subscript, which bash evaluates as arithmetic code', REWRITE_OUT);
  if (t === 'DeclClause') return checkDecl(n, ctx);
  if (t === 'ParamExp' && n.Param && ctx.tainted.has(n.Param.Value as string) && (n.Excl || n.Index)) {
    for (const v of ctx.tainted.get(n.Param.Value as string) ?? []) add(ctx, v, 'is used by ${!…} or a subscript, where bash reads it as a name or as arithmetic', REWRITE_OUT);
  }
  if (t === 'WordIter') for (const w of n.Items as Node[]) for (const v of unquotedTaint(w, ctx)) add(ctx, v, 'is expanded unquoted in a for list: it is split and globbed', 'quote it: "$1"');
  if (t === 'CallExpr') return checkCall(n, ctx);
  if (t === 'BinaryCmd') return checkPipe(n, ctx);
}

function checkRedirect(n: Node, ctx: Ctx): void {
  const op = slice(ctx, n.OpPos.Offset(), n.OpPos.Offset() + 3);
  if (n.Hdoc) for (const v of valuesIn(n.Hdoc, ctx)) add(ctx, v, 'is in a here-document, which a shell expands and a program may read as code', 'pass it as an argument, or write it with printf \'%s\' "$1" | …');
  if (op.startsWith('<<<') && n.Word) for (const v of valuesIn(n.Word, ctx)) add(ctx, v, 'is in a here-string, which feeds it to the program as its input text', 'printf \'%s\' {x} | … when the program reads data, never a script');
}

function checkTest(n: Node, ctx: Ctx): void {
  if (type(n) === 'BinaryTest') {
    const op = slice(ctx, n.X.End().Offset(), n.Y.Pos().Offset()).trim();
    if (ARITH_TESTS.has(op)) for (const v of [...valuesIn(n.X, ctx), ...valuesIn(n.Y, ctx)]) add(ctx, v, `is an operand of ${op} in [[ ]], which bash evaluates as arithmetic code`, 'use [ "$1" -eq N ] (test does not evaluate) or check it with param_patterns');
    return;
  }
  const op = slice(ctx, n.OpPos.Offset(), n.OpPos.Offset() + 2);
  if ((op === '-v' || op === '-R') && n.X) for (const v of valuesIn(n.X, ctx)) add(ctx, v, `is a variable name for ${op}, and bash runs code in an array subscript of one`, REWRITE_OUT);
}

function checkDecl(n: Node, ctx: Ctx): void {
  const args = n.Args as Node[];
  const flags = args.filter((a) => a.Naked && !a.Name && a.Value).map((a) => literal(a.Value, ctx) ?? '').join('');
  for (const a of args) {
    if (a.Naked && a.Value && !a.Name) continue;
    const name = a.Name ? standIns(a.Name.Value as string, ctx) : [];
    const naked = a.Naked && a.Value ? valuesIn(a.Value, ctx) : [];
    for (const v of [...name, ...naked]) add(ctx, v, `is a variable name for ${n.Variant.Value}`, 'use a fixed variable name');
    if (/[iaAn]/.test(flags) && a.Value && !a.Naked) for (const v of valuesIn(a.Value, ctx)) add(ctx, v, `is assigned by ${n.Variant.Value} ${flags}, which evaluates it (arithmetic, array or name reference)`, 'declare without -i/-a/-A/-n and check the value with param_patterns');
  }
}

function checkCall(n: Node, ctx: Ctx): void {
  const words = (n.Args as Node[]).map((w) => argWord(w, ctx));
  for (const w of (n.Args as Node[]).slice(1)) for (const v of unquotedTaint(w, ctx)) add(ctx, v, 'is expanded unquoted: it is split into several arguments and globbed', 'quote it: "$1"');
  const r = analyseCall(words, true);
  ctx.problems.push(...r.problems);
  for (const nested of r.nested) analyseNested(nested.code, nested.lang, nested.positional, ctx);
}

/** A shell reading its script from a pipe whose earlier stage writes values: the values are code. */
function checkPipe(n: Node, ctx: Ctx): void {
  const op = slice(ctx, n.X.End().Offset(), n.Y.Pos().Offset()).trim();
  if (op !== '|' && op !== '|&') return;
  const y = n.Y.Cmd;
  if (!y || type(y) !== 'CallExpr') return;
  const words = (y.Args as Node[]).map((w) => literal(w, ctx));
  const prog = words[0]?.slice((words[0] as string).lastIndexOf('/') + 1);
  if (!prog || !/^(sh|bash|dash|ash|ksh|mksh|zsh|python\d*|perl|ruby|node|php)$/.test(prog)) return;
  const readsStdin = words.slice(1).every((w) => w !== null && (w.startsWith('-') && !/c|e/.test(w.replace(/^-+/, '')))) || words[1] === '-s' || words[1] === '-';
  if (readsStdin) for (const v of valuesIn(n.X, ctx)) add(ctx, v, `reaches ${prog} through a pipe, and ${prog} reads its input as code`, 'pass it as an argument of the script instead');
}

function analyseNested(code: string, lang: ShellLang, positional: ReadonlyArray<readonly string[]>, outer: Ctx): void {
  if (outer.depth > 4) return;
  const tainted = new Map<string, string[]>();
  positional.forEach((vs, i) => vs.length && tainted.set(String(i), [...vs]));
  const all = [...new Set(positional.slice(1).flat())];
  if (all.length) (tainted.set('@', all), tainted.set('*', all));
  const ctx: Ctx = { src: Buffer.from(code, 'utf8'), names: [], tainted, problems: [], depth: outer.depth + 1 };
  let file: Node;
  try {
    file = parse(code, lang);
  } catch (e) {
    throw new TemplateSyntaxError(`the script of ${lang === 'posix' ? 'sh' : lang} -c ${(e as Error).message}`);
  }
  propagate(file, ctx);
  walk(file, (n, up) => check(n, up, ctx));
  outer.problems.push(...ctx.problems);
}

interface Parsed {
  file: Node;
  ctx: Ctx;
}

function parseTemplateCode(segments: readonly Segment[], lang: ShellLang): Parsed {
  const names: string[] = [];
  let src = '';
  for (const s of segments) {
    if (s.kind === 'text') {
      if (new RegExp(STAND_IN.source).test(s.text)) throw new TemplateSyntaxError("contains '%OMNI_<n>%', which the engine reserves");
      src += s.text;
    } else {
      if (/(^|[^\\])(\\\\)*\\$/.test(src)) throw new TemplateSyntaxError(`a backslash right before placeholder {${s.name}} is ambiguous`);
      src += `%OMNI_${names.length}%`;
      names.push(s.name);
    }
  }
  const ctx: Ctx = { src: Buffer.from(src, 'utf8'), names, tainted: new Map(), problems: [], depth: 0 };
  try {
    return { file: parse(src, lang), ctx };
  } catch (e) {
    // A stand-in where the grammar wants a name or a number ($((1+{x})), ${{x}}): try a word-like
    // one, so the error can say which placeholder sits where.
    const alt = src.replace(STAND_IN, (_, n: string) => `_OMNI_${n}_`);
    let file: Node;
    try {
      file = parse(alt, lang);
    } catch {
      throw e;
    }
    return { file, ctx: { ...ctx, src: Buffer.from(alt, 'utf8') } };
  }
}

/** Why a parsed template needs a shell, or null when it is one plain simple command. */
function needsShell(file: Node, ctx: Ctx): string | null {
  const stmts = file.Stmts as Node[];
  let why: string | null = null;
  walk(file, (n) => {
    if (why) return;
    const t = type(n);
    if (t === 'Comment') why = 'a comment';
  });
  if (why) return why;
  if (stmts.length !== 1) return 'more than one command';
  const st = stmts[0] as Node;
  if (st.Negated || st.Background || st.Coprocess) return st.Background ? "'&'" : "'!'";
  if ((st.Redirs as Node[]).length) return 'a redirection';
  const cmd = st.Cmd;
  if (!cmd || type(cmd) !== 'CallExpr') return describeCommand(cmd, ctx);
  if ((cmd.Assigns as Node[]).length) return 'a variable assignment';
  for (const w of cmd.Args as Node[]) {
    const parts = w.Parts as Node[];
    for (const [k, p] of parts.entries()) {
      const t = type(p);
      if (t === 'Lit') {
        const v = p.Value as string;
        const glob = /(^|[^\\])(\\\\)*[*?[]/.exec(v);
        if (glob) return `the glob character '${glob[0].slice(-1)}'`;
        if (k === 0 && v.startsWith('~')) return "'~' at the start of a word";
      } else if (t === 'SglQuoted' || t === 'DblQuoted') {
        if (p.Dollar) return t === 'SglQuoted' ? "$'…'" : '$"…"';
        if (t === 'DblQuoted' && !(p.Parts as Node[]).every((x) => type(x) === 'Lit')) return `'$' in "…"`;
      } else return t === 'ParamExp' ? "'$'" : t === 'CmdSubst' ? "'$(…)' or a backtick" : `a ${t}`;
    }
  }
  return null;
}

const COMMANDS: Record<string, string> = { Subshell: "'(…)'", Block: "'{ …; }'", IfClause: "'if'", WhileClause: "'while'", ForClause: "'for'", CaseClause: "'case'", FuncDecl: 'a function', DeclClause: 'a declaration builtin', TestClause: "'[[ ]]'", ArithmCmd: "'(( ))'", LetClause: "'let'", TimeClause: "'time'", CoprocClause: "'coproc'" };

function describeCommand(cmd: Node | null, ctx: Ctx): string {
  if (!cmd) return 'a redirection without a command';
  if (type(cmd) === 'BinaryCmd') return `'${slice(ctx, cmd.OpPos.Offset(), cmd.Y.Pos().Offset()).trim()}'`;
  return COMMANDS[type(cmd)] ?? `a ${type(cmd)}`;
}

/** The parts of a word: text after quote removal, and placeholders. */
function wordParts(word: Node, ctx: Ctx): WordPart[] {
  const out: WordPart[] = [];
  const push = (text: string) => {
    let last = 0;
    for (const m of text.matchAll(STAND_IN)) {
      if (m.index > last) out.push({ kind: 'text', text: text.slice(last, m.index) });
      out.push({ kind: 'param', name: ctx.names[Number(m[1])] as string, quote: 'raw' });
      last = m.index + m[0].length;
    }
    if (last < text.length) out.push({ kind: 'text', text: text.slice(last) });
  };
  for (const p of word.Parts as Node[]) {
    const t = type(p);
    if (t === 'Lit') push(unescapeBare(p.Value as string));
    else if (t === 'SglQuoted') push(p.Value as string);
    else for (const l of p.Parts as Node[]) push(unescapeDq(l.Value as string));
  }
  // Adjacent text parts merge, so a word is text, param, text, … as the renderer expects.
  return out.reduce<WordPart[]>((acc, x) => {
    const prev = acc[acc.length - 1];
    if (prev && prev.kind === 'text' && x.kind === 'text') prev.text += x.text;
    else acc.push({ ...x });
    return acc;
  }, []);
}

/** The quoting context of every stand-in, for rendering shell code. */
function contexts(file: Node, ctx: Ctx): Map<number, { quote: Quote; list: boolean }> {
  const out = new Map<number, { quote: Quote; list: boolean }>();
  walk(file, (n, up) => {
    const t = type(n);
    if (t !== 'Lit' && t !== 'SglQuoted') return;
    const parent = up[up.length - 1];
    const quote: Quote = t === 'SglQuoted' ? 'sq' : parent && type(parent) === 'DblQuoted' ? 'dq' : 'bare';
    const word = parent && type(parent) === 'Word' ? parent : undefined;
    const holder = up[up.length - 2];
    const argPosition = holder !== undefined && (type(holder) === 'CallExpr' || type(holder) === 'WordIter');
    const whole = word !== undefined && (word.Parts as Node[]).length === 1 && /^%OMNI_\d+%$/.test(n.Value as string);
    for (const m of (n.Value as string).matchAll(STAND_IN)) out.set(Number(m[1]), { quote, list: quote === 'bare' && whole && argPosition });
  });
  return out;
}

function fail(problems: readonly Problem[]): never {
  throw new TemplateSyntaxError(problems.map(problemText).join('; '));
}

/** Compiles a template that the fast path could not: argv after quote removal, or shell code. */
export function analyseTemplate(segments: readonly Segment[], opts: { shell?: boolean }): CompiledCommand {
  const { file, ctx } = parseTemplateCode(segments, 'posix');
  if (!(file.Stmts as Node[]).length) throw new TemplateSyntaxError('the command is empty');
  const why = needsShell(file, ctx);
  if (why !== null || opts.shell === true) {
    if (opts.shell === false) throw new TemplateSyntaxError(`the command needs a shell (it uses ${why}) but says shell: false`);
    walk(file, (n, up) => check(n, up, ctx));
    if (ctx.problems.length) fail(ctx.problems);
    const where = contexts(file, ctx);
    const script: WordPart[] = [];
    let k = 0;
    for (const s of segments) {
      if (s.kind === 'text') script.push({ kind: 'text', text: s.text });
      else {
        const c = where.get(k++);
        if (!c) throw new TemplateSyntaxError(`placeholder {${s.name}} is in a place of the shell code that holds no value`);
        script.push(c.list ? { kind: 'param', name: s.name, quote: c.quote, list: true } : { kind: 'param', name: s.name, quote: c.quote });
      }
    }
    return { mode: 'shell', script, reason: why ?? 'shell: true' };
  }
  const call = (file.Stmts as Node[])[0]?.Cmd as Node;
  const words = (call.Args as Node[]).map((w) => wordParts(w, ctx));
  const r = analyseCall((call.Args as Node[]).map((w) => argWord(w, ctx)), false);
  ctx.problems.push(...r.problems);
  for (const nested of r.nested) analyseNested(nested.code, nested.lang, nested.positional, ctx);
  if (ctx.problems.length) fail(ctx.problems);
  return { mode: 'argv', words };
}

/** Problems of literal shell code whose positional parameters carry values (for the fast path's nested scripts). */
export function analyseScript(code: string, lang: ShellLang, positional: ReadonlyArray<readonly string[]>): Problem[] {
  const ctx: Ctx = { src: Buffer.from(''), names: [], tainted: new Map(), problems: [], depth: 0 };
  analyseNested(code, lang, positional, ctx);
  return ctx.problems;
}
