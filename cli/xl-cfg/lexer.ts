// The xl.cfg tokenizer. The token set follows xl's own lexer (libxlu_cfg_l.l) so that a file xl
// accepts tokenizes the same here:
// - keys are lower-case identifiers: [a-z][_0-9a-z]*;
// - a NUMBER token is a digit followed by digits, a-f and x ("512", "0x200", "0755"); whether it
//   is a valid number is decided later, by the key that wants one (xl does the same);
// - strings are in double or single quotes, on one line, with C-like backslash escapes;
// - `#` starts a comment to the end of the line; statements end at a newline or `;`.
// Unlike xl we also take `\r` as a blank, so a file saved with CRLF line ends still reads.
import { XlCfgSyntaxError } from './errors.ts';

export type XlCfgTokenKind = 'ident' | 'number' | 'string' | '=' | '+=' | ',' | '[' | ']' | ';' | 'newline' | 'eof';

export interface XlCfgToken {
  readonly kind: XlCfgTokenKind;
  /** The identifier or number as written, or the string after unescaping. */
  readonly text: string;
  readonly line: number;
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  "'": "'",
  '\\': '\\',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

/** Splits xl.cfg text into tokens; throws XlCfgSyntaxError at the first thing that is not one. */
export function tokenizeXlCfg(text: string, source: string): XlCfgToken[] {
  const tokens: XlCfgToken[] = [];
  let line = 1;
  let i = 0;
  const fail = (message: string): never => {
    throw new XlCfgSyntaxError(source, line, message);
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
    } else if (c === '\n') {
      tokens.push({ kind: 'newline', text: '\n', line });
      line++;
      i++;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '=' || c === ',' || c === '[' || c === ']' || c === ';') {
      tokens.push({ kind: c, text: c, line });
      i++;
    } else if (c === '+' && text[i + 1] === '=') {
      tokens.push({ kind: '+=', text: '+=', line });
      i += 2;
    } else if (/[a-z]/.test(c)) {
      const m = /^[a-z][_0-9a-z]*/.exec(text.slice(i))!;
      tokens.push({ kind: 'ident', text: m[0], line });
      i += m[0].length;
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9][0-9a-fx]*/.exec(text.slice(i))!;
      tokens.push({ kind: 'number', text: m[0], line });
      i += m[0].length;
    } else if (c === '"' || c === "'") {
      const { value, end } = readString(text, i, fail);
      tokens.push({ kind: 'string', text: value, line });
      i = end;
    } else if (/[A-Z]/.test(c)) {
      fail(`unexpected '${c}': keys are lower case, and string values need quotes`);
    } else if ('+-.():{}'.includes(c)) {
      // xl says the same: these mostly appear in configs written for xm, whose files were Python.
      fail(`unexpected '${c}': this looks like Python, and xl.cfg is not Python (no expressions, no calls)`);
    } else {
      fail(`unexpected character ${JSON.stringify(c)}`);
    }
  }
  tokens.push({ kind: 'eof', text: '', line });
  return tokens;
}

function readString(text: string, start: number, fail: (message: string) => never): { value: string; end: number } {
  const quote = text[start]!;
  let value = '';
  let i = start + 1;
  for (;;) {
    if (i >= text.length || text[i] === '\n') fail(`unterminated string (a string ends on the line it starts, with ${quote})`);
    const c = text[i]!;
    if (c === quote) return { value, end: i + 1 };
    if (c !== '\\') {
      value += c;
      i++;
      continue;
    }
    const n = text[i + 1];
    if (n === undefined || n === '\n') fail('unterminated string: a backslash ends the line');
    const simple = SIMPLE_ESCAPES[n!];
    if (simple !== undefined) {
      value += simple;
      i += 2;
    } else if (n === 'x') {
      const hex = /^[0-9a-fA-F]{2}/.exec(text.slice(i + 2, i + 4));
      if (!hex) fail('\\x in a string needs two hex digits');
      value += String.fromCharCode(parseInt(hex![0], 16));
      i += 4;
    } else if (/[0-7]/.test(n!)) {
      const oct = /^[0-7]{1,3}/.exec(text.slice(i + 1, i + 4))!;
      const code = parseInt(oct[0], 8);
      if (code > 0xff) fail(`octal escape \\${oct[0]} is above \\377`);
      value += String.fromCharCode(code);
      i += 1 + oct[0].length;
    } else {
      fail(`unknown escape \\${n} in a string`);
    }
  }
}
