/**
 * Config files in the three formats Centrifugo reads, picked by the file's extension as Centrifugo picks them:
 * .json, .yaml / .yml (YAML 1.2, so `yes` is a string, not a boolean) and .toml. Parse errors name the file,
 * the format and the line.
 */
import { parse as parseTOML, stringify as stringifyTOML, TomlError } from 'smol-toml';
import { parse as parseYAML, stringify as stringifyYAML, YAMLParseError } from 'yaml';

export type ConfigFormat = 'json' | 'yaml' | 'toml';

const EXTENSIONS: Record<string, ConfigFormat> = { json: 'json', yaml: 'yaml', yml: 'yaml', toml: 'toml' };

export const CONFIG_EXTENSIONS = Object.keys(EXTENSIONS).map((e) => `.${e}`);

/** The format of a config file by its extension, or undefined for an extension Chorus does not read. */
export function configFormatOf(path: string): ConfigFormat | undefined {
  const m = /\.([^./\\]+)$/.exec(path);
  return m ? EXTENSIONS[(m[1] as string).toLowerCase()] : undefined;
}

/** Parses a config file's text; throws an Error whose message says where the text is wrong. */
export function parseConfigText(text: string, format: ConfigFormat): unknown {
  switch (format) {
    case 'json':
      return JSON.parse(text);
    case 'yaml':
      try {
        // An empty file (or one with comments only) is an empty config, as it is for TOML.
        return parseYAML(text, { uniqueKeys: true, maxAliasCount: 100 }) ?? {};
      } catch (e) {
        if (e instanceof YAMLParseError) throw new Error(e.message.trim());
        throw e;
      }
    case 'toml':
      try {
        return parseTOML(text);
      } catch (e) {
        if (e instanceof TomlError) throw new Error(e.message.trim());
        throw e;
      }
  }
}

/** Writes a config object as a file of the given format (for `chorus genconfig`). */
export function stringifyConfig(config: Record<string, unknown>, format: ConfigFormat): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(config, null, 2)}\n`;
    case 'yaml':
      return stringifyYAML(config);
    case 'toml':
      return stringifyTOML(config).replace(/^\n+/, '');
  }
}
