import { readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';

/**
 * The simulated klippy's own printer.cfg reader, written from klippy/configfile.py and Python's
 * configparser (RawConfigParser, strict=False, inline comments `;` and `#`), independent of the
 * product's parser so that a misreading on either side shows.
 */

/** Sections in the order klippy first sees them; option names lower-cased, as configparser does. */
export type KlippyConfig = Map<string, Map<string, string>>;

/** A configparser or configfile error, worded as klippy reports it. */
export class KlippyConfigError extends Error {}

const AUTOSAVE_HEADER =
  '\n#*# <---------------------- SAVE_CONFIG ---------------------->\n' +
  '#*# DO NOT EDIT THIS BLOCK OR BELOW. The contents are auto-generated.\n#*#\n';

const SECTION = /^\[(?<header>.+)\]/;
const OPTION = /^(?<option>.*?)\s*(?<vi>[=:])\s*(?<value>.*)$/;

/** Reads printer.cfg with its includes and its SAVE_CONFIG block, as klippy's load_main_config. */
export function readKlippyConfig(filename: string): KlippyConfig {
  const data = readConfigFile(filename);
  const { regular, autosave } = splitAutosave(data);
  const config: KlippyConfig = new Map();
  parseFile(regular, filename, config, new Set());
  // Fields the regular config defines win over the SAVE_CONFIG block.
  appendConfig(config, stripDuplicates(autosave, config), '*AUTOSAVE*');
  return config;
}

function readConfigFile(filename: string): string {
  try {
    return readFileSync(filename, 'utf8').replace(/\r\n/g, '\n');
  } catch {
    throw new KlippyConfigError(`Unable to open config file ${filename}`);
  }
}

function splitAutosave(data: string): { regular: string; autosave: string } {
  const pos = data.indexOf(AUTOSAVE_HEADER);
  if (pos < 0) return { regular: data, autosave: '' };
  const regular = data.slice(0, pos);
  const autosave = data.slice(pos + AUTOSAVE_HEADER.length).trim();
  // A corrupted block is ignored: the whole file is read as regular config (its lines are comments).
  if (regular.includes('\n#*# ') || autosave.includes(AUTOSAVE_HEADER))
    return { regular: data, autosave: '' };
  const out = [''];
  for (const line of autosave.split('\n')) {
    if ((!line.startsWith('#*#') || (line.length >= 4 && !line.startsWith('#*# '))) && autosave) {
      return { regular: data, autosave: '' };
    }
    out.push(line.slice(4));
  }
  out.push('');
  return { regular, autosave: out.join('\n') };
}

function stripDuplicates(data: string, config: KlippyConfig): string {
  const lines = data.split('\n');
  let section: string | undefined;
  let duplicate = false;
  lines.forEach((line, index) => {
    const pruned = line.replace(/[#;].*$/, '').trimEnd();
    if (!pruned) return;
    if (/^\s/.test(pruned)) {
      if (duplicate) lines[index] = `#${line}`;
      return;
    }
    duplicate = false;
    if (pruned.startsWith('[')) {
      section = pruned.slice(1, -1).trim();
      return;
    }
    const field = pruned.replace(/[^A-Za-z0-9_].*$/, '');
    if (section !== undefined && config.get(section)?.has(field)) {
      duplicate = true;
      lines[index] = `#${line}`;
    }
  });
  return lines.join('\n');
}

function stripHashComment(line: string): string {
  const pos = line.indexOf('#');
  return pos >= 0 ? line.slice(0, pos) : line;
}

/** configfile.py _parse_config: text between [include] lines is parsed as one unit. */
function parseFile(data: string, filename: string, config: KlippyConfig, visited: Set<string>): void {
  const path = resolve(filename);
  if (visited.has(path)) throw new KlippyConfigError(`Recursive include of config file '${filename}'`);
  visited.add(path);
  let buffer: string[] = [];
  for (const raw of data.split('\n')) {
    const line = stripHashComment(raw);
    const header = SECTION.exec(line)?.groups?.header;
    if (header?.startsWith('include ')) {
      appendConfig(config, buffer.join('\n'), filename);
      buffer = [];
      for (const included of resolveInclude(filename, header.slice(8).trim())) {
        parseFile(readConfigFile(included), included, config, visited);
      }
    } else {
      buffer.push(line);
    }
  }
  appendConfig(config, buffer.join('\n'), filename);
  visited.delete(path);
}

function resolveInclude(source: string, spec: string): string[] {
  const pattern = join(dirname(source), spec);
  const files = glob(pattern);
  if (files.length === 0 && !hasMagic(pattern)) {
    throw new KlippyConfigError(`Include file '${pattern}' does not exist`);
  }
  return files.sort();
}

/** One RawConfigParser.read_file call: each call starts outside any section. */
function appendConfig(config: KlippyConfig, text: string, filename: string): void {
  if (!text) return;
  const lines = text.split('\n').map(stripHashComment);
  let section: Map<string, string[] | undefined> | undefined;
  let sectionName: string | undefined;
  const pending = new Map<string, string[]>();
  let option: string | undefined;
  let indentLevel = 0;
  const flush = (): void => {
    if (sectionName === undefined) return;
    const target = config.get(sectionName)!;
    for (const [name, value] of pending) target.set(name, value.join('\n').trimEnd());
    pending.clear();
  };
  lines.forEach((line, index) => {
    const commentStart = inlineCommentStart(line);
    const value = line.slice(0, commentStart ?? line.length).trim();
    if (!value) {
      // Blank lines inside a value are kept (trailing ones are trimmed when it is joined).
      if (commentStart === undefined && option !== undefined) pending.get(option)?.push('');
      return;
    }
    const indent = line.search(/\S/);
    if (section && option !== undefined && indent > indentLevel) {
      pending.get(option)!.push(value);
      return;
    }
    indentLevel = indent;
    const header = SECTION.exec(value)?.groups?.header;
    if (header !== undefined) {
      flush();
      option = undefined;
      if (header === 'DEFAULT') {
        sectionName = undefined;
        section = new Map();
        return;
      }
      if (!config.has(header)) config.set(header, new Map());
      sectionName = header;
      section = new Map();
      return;
    }
    if (!section) {
      throw new KlippyConfigError(
        `File contains no section headers.\nfile: '${filename}', line: ${index + 1}\n'${lines[index]}'`,
      );
    }
    const match = OPTION.exec(value);
    if (!match?.groups?.option) {
      throw new KlippyConfigError(
        `Source contains parsing errors: '${filename}'\n\t[line ${index + 1}]: '${lines[index]}'`,
      );
    }
    option = match.groups.option.trimEnd().toLowerCase();
    pending.set(option, [match.groups.value!.trim()]);
    section.set(option, undefined);
  });
  flush();
}

/** configparser's inline comments: `;` or `#` at the start or after whitespace. */
function inlineCommentStart(line: string): number | undefined {
  if (/^\s*[#;]/.test(line)) return 0;
  const match = /\s[;#]/.exec(line);
  return match ? match.index + 1 : undefined;
}

function hasMagic(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

/** Python's glob.glob (not recursive): `*`, `?` and `[...]` per path part, hidden names need a leading dot. */
function glob(pattern: string): string[] {
  const absolute = isAbsolute(pattern);
  const parts = pattern.split('/').filter((p, i) => p !== '' || i === 0);
  let paths = [absolute ? '/' : '.'];
  for (const part of absolute ? parts.slice(1) : parts) {
    const next: string[] = [];
    for (const base of paths) {
      if (!hasMagic(part)) {
        next.push(join(base, part));
        continue;
      }
      let names: string[];
      try {
        names = readdirSync(base);
      } catch {
        continue;
      }
      const matcher = globPart(part);
      for (const name of names) {
        if (name.startsWith('.') && !part.startsWith('.')) continue;
        if (matcher.test(name)) next.push(join(base, name));
      }
    }
    paths = next;
  }
  return paths.filter((p) => {
    try {
      readFileSync(p);
      return true;
    } catch {
      return false;
    }
  });
}

function globPart(part: string): RegExp {
  let source = '';
  for (let i = 0; i < part.length; i++) {
    const c = part[i]!;
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else if (c === '[') {
      const end = part.indexOf(']', i + 2);
      if (end < 0) {
        source += '\\[';
        continue;
      }
      let set = part.slice(i + 1, end).replace(/\\/g, '\\\\');
      if (set.startsWith('!')) set = `^${set.slice(1)}`;
      source += `[${set}]`;
      i = end;
    } else source += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
}

/** An MCU section as klippy's mcu.py reads it. */
export interface KlippyMcuSection {
  /** `mcu` for [mcu], NAME for [mcu NAME]. */
  name: string;
  serial?: string;
  canbusUuid?: string;
  canbusInterface?: string;
  /** klippy's CAN node id for this MCU, if it is on a CAN bus. */
  nodeId?: number;
}

const NODEID_FIRST = 4;

/**
 * The MCUs in the order klippy creates them (mcu.py add_printer_objects): [mcu] first, then every
 * [mcu NAME] in file order. Each CAN MCU takes the next node id of one counter shared by all
 * interfaces (extras/canbus_ids.py).
 */
export function klippyMcuSections(config: KlippyConfig): KlippyMcuSection[] {
  const primary = config.get('mcu');
  if (!primary) throw new KlippyConfigError("Section 'mcu' not found in config file");
  const named = [...config.keys()].filter((s) => s.startsWith('mcu '));
  const ids = new Map<string, number>();
  return [['mcu', primary] as const, ...named.map((s) => [s, config.get(s)!] as const)].map(
    ([section, options]) => {
      const name = section === 'mcu' ? 'mcu' : section.slice(4);
      const canbusUuid = options.get('canbus_uuid');
      if (canbusUuid !== undefined) {
        if (ids.has(canbusUuid)) throw new KlippyConfigError('Duplicate canbus_uuid');
        ids.set(canbusUuid, ids.size + NODEID_FIRST);
        return {
          name,
          canbusUuid,
          canbusInterface: options.get('canbus_interface') ?? 'can0',
          nodeId: ids.get(canbusUuid)!,
        };
      }
      const serial = options.get('serial');
      if (serial === undefined) {
        throw new KlippyConfigError(`Option 'serial' in section '${section}' must be specified`);
      }
      return { name, serial };
    },
  );
}
