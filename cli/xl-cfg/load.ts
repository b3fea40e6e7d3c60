// Reading a cfg as `xl create domU.cfg key=value ...` does: the file is parsed, then each
// command-line override is parsed with the same grammar and applied after it (so `memory=512`
// replaces the file's memory, and `disk+=['...']` adds a disk), then the result is mapped.
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { XlCfgReadError, XlCfgSyntaxError } from './errors.ts';
import { mapXlCfg, type MappedConfig, type PlaceholderResolver } from './mapper.ts';
import { mergeSettings, parseXlCfg, type XlCfgSetting } from './parser.ts';

/** How an override is named in messages: `command line:2:` is the second key=value argument. */
export const OVERRIDE_SOURCE = 'command line';

export interface LoadOptions {
  /** `key=value` arguments (each may hold several statements separated by ';'). */
  readonly overrides?: readonly string[];
  readonly resolvePlaceholder?: PlaceholderResolver;
}

/** Reads, parses and maps a cfg file; relative paths in it resolve against its folder. */
export async function loadXlCfgFile(path: string, options: LoadOptions = {}): Promise<MappedConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new XlCfgReadError(path, err instanceof Error ? err.message : String(err));
  }
  return loadXlCfgText(text, path, dirname(resolve(path)), options);
}

/** The same from text already read; `source` names it in messages, `baseDir` anchors relative paths. */
export async function loadXlCfgText(text: string, source: string, baseDir: string, options: LoadOptions = {}): Promise<MappedConfig> {
  const settings: XlCfgSetting[] = parseXlCfg(text, source);
  (options.overrides ?? []).forEach((arg, i) => {
    // Each argument is its own little file whose "line" is its position among the overrides.
    let parsed: XlCfgSetting[];
    try {
      parsed = parseXlCfg(arg, OVERRIDE_SOURCE);
    } catch (err) {
      if (err instanceof XlCfgSyntaxError) throw new XlCfgSyntaxError(OVERRIDE_SOURCE, i + 1, err.issues[0]?.message ?? err.message);
      throw err;
    }
    for (const s of parsed) settings.push({ ...s, line: i + 1 });
  });
  const merged = mergeSettings(settings);
  const mapped = await mapXlCfg(merged.entries, {
    source,
    baseDir,
    ...(options.resolvePlaceholder === undefined ? {} : { resolvePlaceholder: options.resolvePlaceholder }),
  });
  return { config: mapped.config, warnings: [...merged.warnings, ...mapped.warnings] };
}
