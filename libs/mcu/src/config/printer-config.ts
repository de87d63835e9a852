/**
 * printer.cfg reading with Klipper's rules (klippy/configfile.py on top of Python's
 * RawConfigParser): `#` starts a comment anywhere on a line, `;` starts one at the line start or
 * after whitespace, option names are case-insensitive, indented lines continue the previous
 * value, a repeated section merges into the first and later options win, `[include GLOB]` is
 * expanded in place relative to the including file, and the SAVE_CONFIG block is read last.
 */

/** File access the parser needs; paths are absolute. Kept abstract so this module has no I/O. */
export interface ConfigFileSource {
  read(path: string): string;
  /** Absolute paths matching a glob pattern (`*`, `?`, `[...]`), in any order. */
  glob(pattern: string): string[];
}

export class PrinterConfigError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly line?: number,
  ) {
    super(line === undefined ? `${file}: ${message}` : `${file}:${line}: ${message}`);
    this.name = 'PrinterConfigError';
  }
}

export interface ConfigSection {
  name: string;
  options: Map<string, string>;
  /** The file where the section first appeared. */
  file: string;
}

export interface PrinterConfig {
  sections: ConfigSection[];
  /** Every file read, the entry file first. */
  files: string[];
}

export const AUTOSAVE_HEADER =
  '\n#*# <---------------------- SAVE_CONFIG ---------------------->\n' +
  '#*# DO NOT EDIT THIS BLOCK OR BELOW. The contents are auto-generated.\n#*#\n';

const SECTION = /^\[(.+)\]/;
const OPTION = /^(.*?)\s*[=:]\s*(.*)$/;

function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

function joinPath(dir: string, rel: string): string {
  if (rel.startsWith('/')) return normalise(rel);
  return normalise(`${dir}/${rel}`);
}

function normalise(path: string): string {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return '/' + parts.join('/');
}

function hasGlobMagic(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

class Builder {
  readonly sections = new Map<string, ConfigSection>();
  readonly files: string[] = [];

  constructor(private readonly source: ConfigFileSource) {}

  parseFile(path: string, visited: Set<string>): void {
    if (visited.has(path)) throw new PrinterConfigError('recursive include of this file', path);
    let data: string;
    try {
      data = this.source.read(path).replace(/\r\n/g, '\n');
    } catch (error) {
      throw new PrinterConfigError(`unable to open config file (${(error as Error).message})`, path);
    }
    if (!this.files.includes(path)) this.files.push(path);
    visited.add(path);
    const { regular, autosave } = splitAutosave(data, path);
    this.parseText(regular, path, visited, 1);
    if (autosave) this.parseText(autosave, path, visited, undefined);
    visited.delete(path);
  }

  /** Includes are expanded in place; the lines between them are read as one unit. */
  private parseText(text: string, path: string, visited: Set<string>, firstLine: number | undefined): void {
    let buffer: { text: string; line: number | undefined }[] = [];
    const lines = text.split('\n');
    lines.forEach((raw, i) => {
      const lineNo = firstLine === undefined ? undefined : firstLine + i;
      const hash = raw.indexOf('#');
      const line = hash >= 0 ? raw.slice(0, hash) : raw;
      const header = SECTION.exec(line)?.[1];
      if (header !== undefined && header.startsWith('include ')) {
        this.readLines(buffer, path);
        buffer = [];
        this.include(path, header.slice('include '.length).trim(), visited, lineNo);
      } else {
        buffer.push({ text: line, line: lineNo });
      }
    });
    this.readLines(buffer, path);
  }

  private include(from: string, spec: string, visited: Set<string>, line: number | undefined): void {
    const pattern = joinPath(dirname(from), spec);
    const matches = hasGlobMagic(pattern) ? this.source.glob(pattern).map(normalise) : [];
    if (!hasGlobMagic(pattern)) {
      if (this.source.glob(pattern).length === 0) {
        throw new PrinterConfigError(`include file '${pattern}' does not exist`, from, line);
      }
      matches.push(pattern);
    }
    for (const file of [...new Set(matches)].sort()) this.parseFile(file, visited);
  }

  /** One RawConfigParser.read_file pass over a block of lines (comments beyond `#` removed). */
  private readLines(lines: { text: string; line: number | undefined }[], path: string): void {
    let section: ConfigSection | undefined;
    let option: string | undefined;
    let values: string[] | undefined;
    let indentLevel = Number.MAX_SAFE_INTEGER;
    const flush = (): void => {
      if (section && option !== undefined && values) {
        section.options.set(option, values.join('\n').replace(/\s+$/, ''));
      }
    };
    for (const { text, line } of lines) {
      const value = stripSemicolonComment(text).trim();
      if (value === '') {
        // RawConfigParser keeps blank lines inside a value (trailing ones are trimmed at the end).
        if (values && option !== undefined && !isCommentOnly(text)) values.push('');
        continue;
      }
      const indent = text.search(/\S/);
      if (section && option !== undefined && values && indent > indentLevel) {
        values.push(value);
        continue;
      }
      indentLevel = indent;
      const header = SECTION.exec(value)?.[1];
      if (header !== undefined) {
        flush();
        option = undefined;
        values = undefined;
        section = this.sections.get(header);
        if (!section) {
          section = { name: header, options: new Map(), file: path };
          this.sections.set(header, section);
        }
        continue;
      }
      if (!section) throw new PrinterConfigError('option outside of any [section]', path, line);
      const match = OPTION.exec(value);
      if (!match || match[1] === '') throw new PrinterConfigError(`cannot parse line '${value}'`, path, line);
      flush();
      option = match[1]!.trimEnd().toLowerCase();
      values = [match[2]!.trim()];
    }
    flush();
  }
}

function isCommentOnly(line: string): boolean {
  const trimmed = line.trim();
  return trimmed.startsWith(';') || trimmed.startsWith('#');
}

/** `;` starts an inline comment only at the start of the line or after whitespace. */
function stripSemicolonComment(line: string): string {
  if (line.trim().startsWith(';')) return '';
  for (let i = line.indexOf(';'); i >= 0; i = line.indexOf(';', i + 1)) {
    if (i === 0 || /\s/.test(line[i - 1]!)) return line.slice(0, i);
  }
  return line;
}

function splitAutosave(data: string, path: string): { regular: string; autosave: string } {
  const pos = data.indexOf(AUTOSAVE_HEADER);
  if (pos < 0) return { regular: data, autosave: '' };
  const regular = data.slice(0, pos);
  const block = data.slice(pos + AUTOSAVE_HEADER.length).trim();
  if (regular.includes('\n#*# ') || block.includes(AUTOSAVE_HEADER)) {
    // Klipper ignores a corrupted autosave block and reads the file as plain config.
    return { regular: data, autosave: '' };
  }
  const lines: string[] = [];
  for (const line of block.split('\n')) {
    if (line.trim() === '') continue;
    if (!line.startsWith('#*#') || (line.length > 3 && line[3] !== ' ')) {
      throw new PrinterConfigError('corrupted SAVE_CONFIG block', path);
    }
    lines.push(line.slice(4));
  }
  return { regular, autosave: lines.join('\n') };
}

export function parsePrinterConfig(entryFile: string, source: ConfigFileSource): PrinterConfig {
  if (!entryFile.startsWith('/')) throw new PrinterConfigError('the config path must be absolute', entryFile);
  const builder = new Builder(source);
  builder.parseFile(normalise(entryFile), new Set());
  return { sections: [...builder.sections.values()], files: builder.files };
}
