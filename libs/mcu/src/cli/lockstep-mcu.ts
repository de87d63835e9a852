import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { mcuSections, parsePrinterConfig, PrinterConfigError, type ConfigFileSource } from '../config';
import { expandGlob, type DirectoryView } from '../config/glob';

/**
 * `lockstep-mcu parse-config FILE`: the MCUs a printer.cfg (with its includes) declares, as
 * JSON, so an operator can check what Lockstep will read before registering a printer.
 * The only file in libs/mcu that touches the disk or the process.
 */

export const USAGE = 'usage: lockstep-mcu parse-config FILE\n';

export interface CliIo extends DirectoryView {
  readFile(path: string): string;
  cwd(): string;
  stdout(text: string): void;
  stderr(text: string): void;
}

export interface ListedMcu {
  section: string;
  name: string;
  serial: string | null;
  canbusUuid: string | null;
  canbusInterface: string | null;
  kind: string | null;
}

export function listMcus(file: string, io: CliIo): ListedMcu[] {
  const source: ConfigFileSource = {
    read: (path) => io.readFile(path),
    glob: (pattern) => expandGlob(pattern, io),
  };
  const config = parsePrinterConfig(resolve(io.cwd(), file), source);
  return mcuSections(config).map(({ section, name, serial, canbusUuid, canbusInterface, kind }) => ({
    section,
    name,
    serial,
    canbusUuid,
    canbusInterface,
    kind,
  }));
}

/** Exit codes: 0 success, 1 the config cannot be read, 2 wrong usage. */
export function runCli(argv: readonly string[], io: CliIo): number {
  const [command, ...args] = argv;
  if (command === '--help' || command === '-h') {
    io.stdout(USAGE);
    return 0;
  }
  if (command !== 'parse-config' || args.length !== 1 || args[0] === '') {
    io.stderr(
      command === undefined || command === 'parse-config' ? USAGE : `unknown command '${command}'\n${USAGE}`,
    );
    return 2;
  }
  try {
    io.stdout(`${JSON.stringify(listMcus(args[0]!, io), null, 2)}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof PrinterConfigError)) throw error;
    io.stderr(`lockstep-mcu: ${error.message}\n`);
    return 1;
  }
}

const nodeIo: CliIo = {
  readFile: (path) => readFileSync(path, 'utf8'),
  list(dir) {
    try {
      return readdirSync(dir);
    } catch {
      return null;
    }
  },
  exists: (path) => lstatSync(path, { throwIfNoEntry: false }) !== undefined,
  cwd: () => process.cwd(),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

export function main(argv: readonly string[]): number {
  return runCli(argv, nodeIo);
}
