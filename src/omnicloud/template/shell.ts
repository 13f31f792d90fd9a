/**
 * What command templates compile to, and the fast path that needs no shell parser: a template of
 * plain words (letters, digits, `_ . / : , @ % + = ^ -`, Go-template braces, placeholders; no
 * quotes, escapes or shell operators) is split on blanks exactly as sh would split it. Anything
 * else is parsed by mvdan-sh (shell-code.ts, its own chunk).
 */
import type { Segment } from './placeholders';
import type { Problem } from './programs';

export type Quote = 'bare' | 'dq' | 'sq';

/**
 * A piece of a compiled word or script. In argv words a param is `raw` (its text is the argument,
 * or part of it); in shell code it carries the quoting context it sits in, and `list` marks a
 * whole bare argument word, where an array value becomes one argument per element.
 */
export type WordPart = { kind: 'text'; text: string } | { kind: 'param'; name: string; quote: 'raw' | Quote; list?: boolean };

export type CompiledCommand = { mode: 'argv'; words: WordPart[][] } | { mode: 'shell'; script: WordPart[]; reason: string };

export class TemplateSyntaxError extends Error {}

/** Stand-ins for placeholders while shell code is parsed: inert in every shell context. */
export const STAND_IN = /[%_]OMNI_(\d+)[%_]/g;

/** A load error's text: the placeholder, why it is refused, and the safe rewrite. */
export function problemText(p: Problem): string {
  return `placeholder {${p.value}} ${p.reason} (safe rewrite: ${p.rewrite.replace(/\{x\}/g, `{${p.value}}`)})`;
}

const PLAIN = /^[A-Za-z0-9_./:,@%+=^{}\s-]*$/;

/**
 * The argv words of a template made of plain words only, or null when it needs the parser.
 * A `{` or `}` that is a word by itself (a shell group), `=` in the first word (an assignment)
 * and a placeholder glued to a Go template's braces go to the parser.
 */
export function plainWords(segments: readonly Segment[]): WordPart[][] | null {
  const words: WordPart[][] = [];
  let word: WordPart[] = [];
  const end = () => {
    if (word.length) words.push(word);
    word = [];
  };
  for (const s of segments) {
    if (s.kind === 'param') {
      word.push({ kind: 'param', name: s.name, quote: 'raw' });
      continue;
    }
    if (!PLAIN.test(s.text)) return null;
    for (const piece of s.text.split(/(\s+)/)) {
      if (piece === '') continue;
      if (/^\s+$/.test(piece)) end();
      else {
        const last = word[word.length - 1];
        if (last?.kind === 'text') last.text += piece;
        else word.push({ kind: 'text', text: piece });
      }
    }
  }
  end();
  const first = words[0];
  if (!first || first.some((p) => p.kind === 'text' && p.text.includes('='))) return null;
  if (words.some((w) => w.length === 1 && w[0]?.kind === 'text' && /^[{}]$/.test(w[0].text))) return null;
  return words;
}
