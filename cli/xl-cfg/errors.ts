// Every failure of reading an xl.cfg names where it happened the way compilers do, so an editor
// can jump to it: `domU.cfg:7: memory: expected a number, got "lots"`. The mapper collects all
// the problems of a file before throwing, so one run shows them all.

/** One problem (or warning) in a config: the file (or "command line"), the line, the key. */
export interface XlCfgIssue {
  readonly source: string;
  /** 1-based; undefined when the problem is the absence of a key. */
  readonly line: number | undefined;
  readonly key: string | undefined;
  readonly message: string;
}

export function formatIssue(issue: XlCfgIssue): string {
  const where = issue.line === undefined ? issue.source : `${issue.source}:${issue.line}`;
  return issue.key === undefined ? `${where}: ${issue.message}` : `${where}: ${issue.key}: ${issue.message}`;
}

/** The config cannot be turned into a domain configuration; `issues` holds every reason found. */
export class XlCfgError extends Error {
  override readonly name: string = 'XlCfgError';
  readonly source: string;
  readonly line: number | undefined;
  readonly key: string | undefined;

  constructor(readonly issues: readonly XlCfgIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    const first = issues[0];
    this.source = first?.source ?? '';
    this.line = first?.line;
    this.key = first?.key;
  }
}

/** The text is not xl.cfg syntax (a lexical or grammar error); always a single issue. */
export class XlCfgSyntaxError extends XlCfgError {
  override readonly name = 'XlCfgSyntaxError';
  constructor(source: string, line: number, message: string) {
    super([{ source, line, key: undefined, message }]);
  }
}

/** The config file could not be read at all. */
export class XlCfgReadError extends XlCfgError {
  override readonly name = 'XlCfgReadError';
  constructor(source: string, reason: string) {
    super([{ source, line: undefined, key: undefined, message: `cannot read: ${reason}` }]);
  }
}

/**
 * A DISKSPEC, VIFSPEC or vdev string is malformed or asks for something xlts does not do. Thrown
 * by the spec parsers, which know no file or line; the mapper turns it into an XlCfgIssue.
 */
export class XlSpecError extends Error {
  override readonly name = 'XlSpecError';
}
