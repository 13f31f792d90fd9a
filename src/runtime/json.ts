/**
 * JSON parsing whose error messages locate the problem without quoting the input: V8's messages
 * embed a snippet of the text, which may hold a password.
 */

export class JsonSyntaxError extends Error {}

function lineColumn(text: string, pos: number): string {
  let line = 1;
  let col = 1;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      col = 1;
    } else col++;
  }
  return `line ${line} column ${col}`;
}

export function describeJsonError(e: unknown, text: string): string {
  const msg = e instanceof Error ? e.message : String(e);
  const pos = /at position (\d+)/.exec(msg);
  const head = msg
    .replace(/, (\.\.\.)?"[\s\S]*$/, '')
    .replace(/ in JSON at position \d+.*$/, '')
    .replace(/ \(line \d+ column \d+\)$/, '');
  return pos ? `${head} at ${lineColumn(text, Number(pos[1]))}` : head;
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new JsonSyntaxError(describeJsonError(e, text));
  }
}
