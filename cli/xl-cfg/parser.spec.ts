import { describe, expect, it } from 'vitest';
import { XlCfgSyntaxError } from './errors.ts';
import { tokenizeXlCfg } from './lexer.ts';
import { mergeSettings, parseXlCfg, type XlCfgValue } from './parser.ts';

/** A value as plain JS: atoms as their text, lists as arrays. */
function plain(v: XlCfgValue): unknown {
  return v.kind === 'atom' ? v.text : v.items.map(plain);
}

function settings(text: string): Record<string, unknown> {
  return Object.fromEntries([...mergeSettings(parseXlCfg(text, 'domU.cfg')).entries].map(([k, e]) => [k, plain(e.value)]));
}

function syntaxError(text: string): string {
  try {
    parseXlCfg(text, 'domU.cfg');
  } catch (e) {
    if (e instanceof XlCfgSyntaxError) return e.message;
    throw e;
  }
  throw new Error('parsed');
}

describe('tokenizeXlCfg', () => {
  it('gives each token its line and drops comments', () => {
    const toks = tokenizeXlCfg('name = "a" # the name\nmemory=0x200;vcpus=2\n', 'f');
    expect(toks.map((t) => [t.kind, t.text, t.line])).toEqual([
      ['ident', 'name', 1], ['=', '=', 1], ['string', 'a', 1], ['newline', '\n', 1],
      ['ident', 'memory', 2], ['=', '=', 2], ['number', '0x200', 2], [';', ';', 2],
      ['ident', 'vcpus', 2], ['=', '=', 2], ['number', '2', 2], ['newline', '\n', 2], ['eof', '', 3],
    ]);
  });

  it('unescapes strings in either quote', () => {
    const [t] = tokenizeXlCfg(String.raw`'it\'s \"x\" \\ \t\x41\101\n'`, 'f');
    expect(t?.text).toBe('it\'s "x" \\ \tAA\n');
    expect(tokenizeXlCfg(`"a 'b' # not a comment"`, 'f')[0]?.text).toBe("a 'b' # not a comment");
  });

  it('reads CRLF files', () => {
    expect(settings('name = "a"\r\nmemory = 64\r\n')).toEqual({ name: 'a', memory: '64' });
  });
});

describe('parseXlCfg', () => {
  it('parses key = value lines, semicolons, numbers and strings', () => {
    expect(settings('name="h0"; type="pvh"\n\n  memory = 512\nkernel = \'/boot/vmlinuz\'')).toEqual({
      name: 'h0', type: 'pvh', memory: '512', kernel: '/boot/vmlinuz',
    });
  });

  it('parses lists spanning lines, with comments inside, trailing commas and nesting', () => {
    const text = [
      'disk = [',
      "  'format=raw, vdev=xvda, target=/a.img',  # the root disk",
      '',
      "  '/b.img,,xvdb',",
      ']',
      'vif = []',
      'vnuma = [ ["pnode=0", "size=512"], ["pnode=1"] ]',
      'cpus = [ 1, "2" ,',
      '  ]',
    ].join('\n');
    expect(settings(text)).toEqual({
      disk: ['format=raw, vdev=xvda, target=/a.img', '/b.img,,xvdb'],
      vif: [],
      vnuma: [['pnode=0', 'size=512'], ['pnode=1']],
      cpus: ['1', '2'],
    });
  });

  it('records the line of each key and whether an atom was quoted', () => {
    const s = parseXlCfg('\n# c\nname = "x"\n', 'f');
    expect(s[0]).toMatchObject({ key: 'name', line: 3, op: '=' });
    expect(s[0]?.value).toMatchObject({ kind: 'atom', quoted: true });
    expect(syntaxError('memory =\n 5')).toBe('domU.cfg:1: expected a value for memory (a quoted string, a number or a [ list ]), got the end of the line');
  });

  it('a later assignment wins and += appends', () => {
    const merged = mergeSettings(parseXlCfg('memory = 64\nmemory = 128\nextra = "a"\nextra += " b"\ndisk = ["x"]\ndisk += ["y"]\nvif += ["v"]', 'f'));
    expect(Object.fromEntries([...merged.entries].map(([k, e]) => [k, plain(e.value)]))).toEqual({
      memory: '128', extra: 'a b', disk: ['x', 'y'], vif: ['v'],
    });
    expect(merged.entries.get('memory')?.line).toBe(2);
    expect(merged.warnings).toEqual([{ source: 'f', line: 2, key: 'memory', message: 'also set on line 1; this later value wins' }]);
    expect(() => mergeSettings(parseXlCfg('disk = ["x"]\ndisk += "y"', 'f'))).toThrow('f:2: disk: += cannot add a string to a list');
  });

  it('reports syntax errors with file and line', () => {
    expect(syntaxError('name = "a"\nmemory = lots')).toBe('domU.cfg:2: memory: bare word lots: strings must be quoted (memory="lots")');
    expect(syntaxError('name = "a\n')).toMatch(/^domU.cfg:1: unterminated string/);
    expect(syntaxError('\n\ndisk = [ "a" "b" ]')).toBe('domU.cfg:3: expected , or ] in the list opened on line 3, got the string "b"');
    expect(syntaxError('disk = [ "a",\n "b"\n')).toBe('domU.cfg:3: expected , or ] in the list opened on line 1, got the end of the text');
    expect(syntaxError('name "a"')).toBe("domU.cfg:1: expected = after name, got the string \"a\"");
    expect(syntaxError('name = "a" "b"')).toMatch(/^domU.cfg:1: expected a newline or ; after the value/);
    expect(syntaxError('Name = "a"')).toMatch(/^domU.cfg:1: unexpected 'N': keys are lower case/);
    expect(syntaxError('memory = 64 * 2')).toMatch(/^domU.cfg:1: unexpected character "\*"/);
    expect(syntaxError("kernel = '/boot/' + version")).toMatch(/looks like Python/);
    expect(syntaxError('x = "\\q"')).toMatch(/unknown escape \\q/);
    expect(syntaxError('x = "\\x4"')).toMatch(/two hex digits/);
  });

  it('accepts an empty file and a last line without a newline', () => {
    expect(parseXlCfg('', 'f')).toEqual([]);
    expect(settings('# only a comment')).toEqual({});
    expect(settings('name="a"')).toEqual({ name: 'a' });
  });
});
