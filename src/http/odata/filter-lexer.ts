/**
 * Tokens of the `$filter` subset. Positions are offsets into the decoded option text, so syntax errors can
 * point at the character a client wrote.
 */
import { badRequest } from '../../model/errors.js';
import { normalizeTimestamp } from '../../model/time.js';

export type Token =
  | { kind: 'ident'; text: string; pos: number }
  | { kind: 'string'; value: string; text: string; pos: number }
  | { kind: 'number'; value: number; text: string; pos: number }
  /** An unquoted DateTimeOffset; value is the canonical stored form. */
  | { kind: 'datetime'; value: string; text: string; pos: number }
  /** `microsoft.graph.longRunningOperationStatus'running'` */
  | { kind: 'enum'; type: string; value: string; text: string; pos: number }
  | { kind: '(' | ')' | ','; text: string; pos: number }
  | { kind: 'eof'; text: string; pos: number };

export function syntaxError(pos: number, detail: string) {
  return badRequest(`Syntax error at position ${pos} in '$filter': ${detail}`);
}

const IDENT_START = /[A-Za-z_]/;
const IDENT_PART = /[A-Za-z0-9_.]/;
/** Characters of an unquoted number or DateTimeOffset (`2024-05-01T10:00:00.5+02:00`). */
const BARE_LITERAL_PART = /[0-9A-Za-z:.+-]/;
const WHITESPACE = /[ \t\r\n]/;

export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (WHITESPACE.test(c)) {
      i++;
    } else if (c === '(' || c === ')' || c === ',') {
      tokens.push({ kind: c, text: c, pos: i });
      i++;
    } else if (c === "'") {
      const { value, end } = readString(text, i);
      tokens.push({ kind: 'string', value, text: text.slice(i, end), pos: i });
      i = end;
    } else if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(text[i + 1] ?? ''))) {
      let end = i + 1;
      while (end < text.length && BARE_LITERAL_PART.test(text[end])) end++;
      tokens.push(bareLiteral(text.slice(i, end), i));
      i = end;
    } else if (c === '$' && text.startsWith('$it', i) && !IDENT_PART.test(text[i + 3] ?? '')) {
      // `$it`, the current instance: only isof's two-argument form uses it.
      tokens.push({ kind: 'ident', text: '$it', pos: i });
      i += 3;
    } else if (IDENT_START.test(c)) {
      let end = i + 1;
      while (end < text.length && IDENT_PART.test(text[end])) end++;
      const name = text.slice(i, end);
      if (text[end] === "'") {
        // A qualified enum literal: the type name is glued to the quoted member name.
        const { value, end: after } = readString(text, end);
        tokens.push({ kind: 'enum', type: name, value, text: text.slice(i, after), pos: i });
        i = after;
      } else {
        tokens.push({ kind: 'ident', text: name, pos: i });
        i = end;
      }
    } else {
      throw syntaxError(i, `unexpected character '${c}'.`);
    }
  }
  tokens.push({ kind: 'eof', text: 'end of input', pos: text.length });
  return tokens;
}

/** A single-quoted string; `''` stands for one quote. */
function readString(text: string, start: number): { value: string; end: number } {
  let value = '';
  let i = start + 1;
  for (;;) {
    const q = text.indexOf("'", i);
    if (q < 0) throw syntaxError(start, 'unterminated string literal.');
    value += text.slice(i, q);
    if (text[q + 1] === "'") {
      value += "'";
      i = q + 2;
    } else {
      return { value, end: q + 1 };
    }
  }
}

function bareLiteral(text: string, pos: number): Token {
  if (/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text)) return { kind: 'number', value: Number(text), text, pos };
  if (/^\d{4}-\d{2}-\d{2}T/i.test(text)) {
    const canonical = normalizeTimestamp(text);
    if (canonical) return { kind: 'datetime', value: canonical, text, pos };
    throw syntaxError(pos, `'${text}' is not a valid DateTimeOffset.`);
  }
  throw syntaxError(pos, `'${text}' is not a valid literal.`);
}
