// The xl.cfg grammar, after xl's (libxlu_cfg_y.y), written as a small recursive-descent parser:
//
//   file       := { [assignment] (NEWLINE | ';') } [assignment] EOF
//   assignment := IDENT ('=' | '+=') value
//   value      := atom | '[' nl [ value nl { ',' nl value nl } [ ',' nl ] ] ']'
//   atom       := STRING | NUMBER
//   nl         := { NEWLINE }
//
// So lists may span lines and end with a trailing comma, and nest (xl.cfg(5): "Lists can be
// heterogeneous and nested"). A bare word is never a value: strings are always quoted.
//
// The parser keeps every assignment in order with its line; mergeSettings() then applies xl's
// rules: a later `key = value` replaces an earlier one, and `key += value` appends to it (string to
// string, list to list). Command-line overrides go through the same parser and are merged after
// the file, which is how `xl create domU.cfg memory=512` works.
import { XlCfgSyntaxError, type XlCfgIssue } from './errors.ts';
import { tokenizeXlCfg, type XlCfgToken } from './lexer.ts';

export interface XlCfgAtom {
  readonly kind: 'atom';
  /** The text as the key will read it: a string after unescaping, or a number as written. */
  readonly text: string;
  /** True for a quoted string, false for a NUMBER token. */
  readonly quoted: boolean;
  readonly line: number;
}

export interface XlCfgList {
  readonly kind: 'list';
  readonly items: readonly XlCfgValue[];
  readonly line: number;
}

export type XlCfgValue = XlCfgAtom | XlCfgList;

export interface XlCfgSetting {
  readonly key: string;
  readonly op: '=' | '+=';
  readonly value: XlCfgValue;
  readonly source: string;
  readonly line: number;
}

/** Parses the text of an xl.cfg (or one command-line override); `source` names it in errors. */
export function parseXlCfg(text: string, source: string): XlCfgSetting[] {
  return new Parser(tokenizeXlCfg(text, source), source).file();
}

class Parser {
  private pos = 0;

  constructor(
    private readonly tokens: readonly XlCfgToken[],
    private readonly source: string,
  ) {}

  private peek(): XlCfgToken {
    return this.tokens[this.pos]!;
  }

  private next(): XlCfgToken {
    const t = this.tokens[this.pos]!;
    if (t.kind !== 'eof') this.pos++;
    return t;
  }

  private fail(t: XlCfgToken, expected: string): never {
    throw new XlCfgSyntaxError(this.source, t.line, `expected ${expected}, got ${describeToken(t)}`);
  }

  file(): XlCfgSetting[] {
    const settings: XlCfgSetting[] = [];
    for (;;) {
      const t = this.peek();
      if (t.kind === 'eof') return settings;
      if (t.kind === 'newline' || t.kind === ';') {
        this.next();
        continue;
      }
      if (t.kind !== 'ident') {
        if (t.kind === 'string' || t.kind === 'number') this.fail(t, 'a key (lower-case name) at the start of a statement');
        this.fail(t, 'a key');
      }
      settings.push(this.assignment());
      const end = this.peek();
      if (end.kind !== 'newline' && end.kind !== ';' && end.kind !== 'eof') this.fail(end, 'a newline or ; after the value');
    }
  }

  private assignment(): XlCfgSetting {
    const key = this.next();
    const op = this.next();
    if (op.kind !== '=' && op.kind !== '+=') this.fail(op, `= after ${key.text}`);
    const value = this.value(key.text);
    return { key: key.text, op: op.kind, value, source: this.source, line: key.line };
  }

  private value(key: string): XlCfgValue {
    const t = this.next();
    if (t.kind === 'string' || t.kind === 'number') return { kind: 'atom', text: t.text, quoted: t.kind === 'string', line: t.line };
    if (t.kind === '[') return this.listRest(t.line, key);
    if (t.kind === 'ident') {
      throw new XlCfgSyntaxError(this.source, t.line, `${key}: bare word ${t.text}: strings must be quoted (${key}="${t.text}")`);
    }
    return this.fail(t, `a value for ${key} (a quoted string, a number or a [ list ])`);
  }

  /** After '[': values separated by commas, newlines allowed around them, trailing comma allowed. */
  private listRest(line: number, key: string): XlCfgList {
    const items: XlCfgValue[] = [];
    this.skipNewlines();
    while (this.peek().kind !== ']') {
      if (this.peek().kind === 'eof') this.fail(this.peek(), `] to close the list opened on line ${line}`);
      items.push(this.value(key));
      this.skipNewlines();
      const sep = this.peek();
      if (sep.kind === ',') {
        this.next();
        this.skipNewlines();
      } else if (sep.kind !== ']') {
        this.fail(sep, `, or ] in the list opened on line ${line}`);
      }
    }
    this.next();
    return { kind: 'list', items, line };
  }

  private skipNewlines(): void {
    while (this.peek().kind === 'newline') this.next();
  }
}

function describeToken(t: XlCfgToken): string {
  switch (t.kind) {
    case 'eof':
      return 'the end of the text';
    case 'newline':
      return 'the end of the line';
    case 'string':
      return `the string ${JSON.stringify(t.text)}`;
    case 'ident':
    case 'number':
      return t.text;
    default:
      return `'${t.kind}'`;
  }
}

/** The value a key ends up with after every assignment to it, and where it was (last) set. */
export interface XlCfgEntry {
  readonly key: string;
  readonly value: XlCfgValue;
  readonly source: string;
  readonly line: number;
}

export interface MergedSettings {
  readonly entries: ReadonlyMap<string, XlCfgEntry>;
  /** Keys assigned twice within one source with `=`: legal, but usually a mistake. */
  readonly warnings: readonly XlCfgIssue[];
}

/**
 * Applies assignments in order: `=` replaces, `+=` appends to the earlier value of the same key
 * (or sets it when there is none). Later sources (command-line overrides) go last.
 */
export function mergeSettings(settings: readonly XlCfgSetting[]): MergedSettings {
  const entries = new Map<string, XlCfgEntry>();
  const warnings: XlCfgIssue[] = [];
  for (const s of settings) {
    const prev = entries.get(s.key);
    if (s.op === '=' || prev === undefined) {
      if (prev !== undefined && prev.source === s.source) {
        warnings.push({ source: s.source, line: s.line, key: s.key, message: `also set on line ${prev.line}; this later value wins` });
      }
      entries.set(s.key, { key: s.key, value: s.value, source: s.source, line: s.line });
      continue;
    }
    const a = prev.value;
    const b = s.value;
    let value: XlCfgValue;
    if (a.kind === 'atom' && b.kind === 'atom') value = { kind: 'atom', text: a.text + b.text, quoted: true, line: s.line };
    else if (a.kind === 'list' && b.kind === 'list') value = { kind: 'list', items: [...a.items, ...b.items], line: s.line };
    else throw new XlCfgSyntaxError(s.source, s.line, `${s.key}: += cannot add a ${b.kind === 'list' ? 'list' : 'string'} to a ${a.kind === 'list' ? 'list' : 'string'}`);
    entries.set(s.key, { key: s.key, value, source: s.source, line: s.line });
  }
  return { entries, warnings };
}
