// xl.cfg support for the xlts CLI: parse a domain config file the way xl does and map it to the
// DomainConfig that xltsd runs (dom0/domain-config.ts). See README.md.
export { loadXlCfgFile, loadXlCfgText, OVERRIDE_SOURCE, type LoadOptions } from './load.ts';
export { mapXlCfg, XLTS_CFG_KEYS, type MapOptions, type MappedConfig, type PlaceholderRef, type PlaceholderResolver } from './mapper.ts';
export { mergeSettings, parseXlCfg, type XlCfgAtom, type XlCfgEntry, type XlCfgList, type XlCfgSetting, type XlCfgValue } from './parser.ts';
export { tokenizeXlCfg, type XlCfgToken } from './lexer.ts';
export { parseDiskSpec, toDiskSpec, type XlDiskSpec } from './disk.ts';
export { parseVifRate, parseVifSpec } from './vif.ts';
export { parseVdev, vdevToDeviceId, type VbdName } from './vdev.ts';
export { parseXlNumber } from './number.ts';
export { XlCfgError, XlCfgReadError, XlCfgSyntaxError, XlSpecError, formatIssue, type XlCfgIssue } from './errors.ts';
