// Numbers in xl.cfg are read the way xl reads them (strtol with base 0): decimal, hex with a 0x
// prefix, octal with a leading 0. Unlike strtol we take no sign, no blanks and no trailing
// garbage: "512M" is an error, not 512.

/** The value of an xl number, or undefined when `text` is not one (or not a safe integer). */
export function parseXlNumber(text: string): number | undefined {
  let n: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(text)) n = parseInt(text.slice(2), 16);
  else if (/^0[0-7]*$/.test(text)) n = parseInt(text, 8);
  else if (/^[1-9][0-9]*$/.test(text)) n = parseInt(text, 10);
  else return undefined;
  return Number.isSafeInteger(n) ? n : undefined;
}
