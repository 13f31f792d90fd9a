/**
 * `{name}` placeholders, found in one left-to-right pass over a template — never in substituted
 * values, which are therefore never expanded again.
 *
 * What is a placeholder: `{` + a name + `}`, where a name is an identifier optionally followed by
 * dotted parts (`{steps.helper.id}`, `{result.id}`). Everything else is literal text:
 * - `{{ … }}` runs (Go templates such as `{{.ID}}` or `{{json .}}`) are copied as they are;
 * - `${…}` is shell syntax, not a placeholder;
 * - braces around anything that is not a name (`{"a": 1}`, `{ cmd; }`, `\d{2,3}`) stay literal.
 */

export type Segment = { kind: 'text'; text: string } | { kind: 'param'; name: string };

const NAME = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*/;

export function parseTemplate(template: string): Segment[] {
  const out: Segment[] = [];
  let text = '';
  let i = 0;
  const flush = () => {
    if (text) out.push({ kind: 'text', text });
    text = '';
  };
  while (i < template.length) {
    const c = template[i] as string;
    if (c === '{' && template[i + 1] === '{') {
      // A Go-template action: literal up to and including the next `}}`.
      const end = template.indexOf('}}', i + 2);
      const stop = end < 0 ? template.length : end + 2;
      text += template.slice(i, stop);
      i = stop;
      continue;
    }
    if (c === '$' && template[i + 1] === '{') {
      text += '${';
      i += 2;
      continue;
    }
    if (c === '{') {
      const m = NAME.exec(template.slice(i + 1));
      if (m && template[i + 1 + m[0].length] === '}') {
        flush();
        out.push({ kind: 'param', name: m[0] });
        i += m[0].length + 2;
        continue;
      }
    }
    text += c;
    i++;
  }
  flush();
  return out;
}

/** The placeholder names of a template, in order of first appearance. */
export function placeholderNames(template: string): string[] {
  const names: string[] = [];
  for (const s of parseTemplate(template)) if (s.kind === 'param' && !names.includes(s.name)) names.push(s.name);
  return names;
}
