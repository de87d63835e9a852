import { BUILD_DICT_MARK, BUILD_SHA_MARK, parseBuildOutput } from './build-output';

const VERSION = 'v0.13.0-123-gabcdef12';
const SHA_ELF = '1'.repeat(64);
const SHA_BIN = '2'.repeat(64);
const SHA_DICT = '3'.repeat(64);

const MAKE = [
  '  Creating symbolic link out/board',
  '  Building out/autoconf.h',
  '  Compiling out/src/sched.o',
  '  Building out/compile_time_request.o',
  `Version: ${VERSION}`,
  '  Linking out/klipper.elf',
  '  Creating bin file out/klipper.bin',
].join('\n');

/** klipper.dict as Klipper writes it (one line of JSON, no newline at the end). */
const dict = (fields: Record<string, unknown>): string =>
  JSON.stringify({
    build_versions: 'gcc: (GCC) 12.2.1 binutils: (GNU Binutils) 2.40',
    ...fields,
    app: 'Klipper',
  });

/** What the build command prints: make, the marker, klipper.dict, `echo`, the marker, sha256sum. */
const output = (dictText: string, shaLines: string[]): string =>
  [MAKE, BUILD_DICT_MARK, `${dictText}`, BUILD_SHA_MARK, ...shaLines, ''].join('\n');

const SHA_LINES = [`${SHA_BIN}  klipper.bin`, `${SHA_DICT}  klipper.dict`, `${SHA_ELF}  klipper.elf`];
const FILES = { 'klipper.bin': SHA_BIN, 'klipper.dict': SHA_DICT, 'klipper.elf': SHA_ELF };

describe('parseBuildOutput', () => {
  it('uses marker lines no build prints', () => {
    expect([BUILD_DICT_MARK, BUILD_SHA_MARK]).toEqual(['@@LOCKSTEP-DICT@@', '@@LOCKSTEP-SHA256@@']);
  });

  it.each<[string, string, ReturnType<typeof parseBuildOutput>]>([
    [
      'a normal build: the dict version and every artifact sum',
      output(dict({ version: VERSION, license: 'GNU GPLv3' }), SHA_LINES),
      { version: VERSION, files: FILES },
    ],
    [
      'a stamped version, kept exactly as the MCU will report it',
      output(dict({ version: `${VERSION}-20261127_090541-pi` }), SHA_LINES),
      { version: `${VERSION}-20261127_090541-pi`, files: FILES },
    ],
    [
      'a UF2 build',
      output(dict({ version: VERSION }), [`${SHA_BIN}  klipper.uf2`, `${SHA_ELF}  klipper.elf`]),
      { version: VERSION, files: { 'klipper.uf2': SHA_BIN, 'klipper.elf': SHA_ELF } },
    ],
    ['no markers (make failed before them)', MAKE, { version: null, files: {} }],
    ['nothing at all', '', { version: null, files: {} }],
    [
      'a dict marker at the very end, without its newline',
      `${MAKE}\n${BUILD_DICT_MARK}`,
      { version: null, files: {} },
    ],
    ['a dict that is not JSON', output('{"version": "v0.13.0', SHA_LINES), { version: null, files: FILES }],
    ['an empty dict file', output('', SHA_LINES), { version: null, files: FILES }],
    ['a dict without version', output(dict({}), SHA_LINES), { version: null, files: FILES }],
    [
      'a dict whose version is not a string',
      output(dict({ version: 13 }), SHA_LINES),
      { version: null, files: FILES },
    ],
    ['a dict that is JSON null', output('null', SHA_LINES), { version: null, files: FILES }],
    [
      'no sha marker (sha256sum never ran)',
      [MAKE, BUILD_DICT_MARK, dict({ version: VERSION }), ''].join('\n'),
      { version: VERSION, files: {} },
    ],
    [
      'sha lines of other files, or not in sha256sum form, ignored',
      output(dict({ version: VERSION }), [
        `${SHA_BIN}  klipper.bin`,
        `${SHA_ELF}  klipper.elf.hex`,
        `${SHA_ELF}  other.bin`,
        `${SHA_ELF}  out/klipper.elf`,
        `${SHA_ELF} klipper.elf`,
        `${SHA_ELF.slice(1)}  klipper.dict`,
        `${SHA_ELF.toUpperCase().replace(/1/g, 'A')}  klipper.dict`,
        'sha256sum: klipper.uf2: No such file or directory',
      ]),
      { version: VERSION, files: { 'klipper.bin': SHA_BIN } },
    ],
  ])('%s', (_name, stdout, expected) => {
    expect(parseBuildOutput(stdout)).toEqual(expected);
  });

  it('reads the dict that follows the marker, not a version printed by make', () => {
    const stdout = output(dict({ version: VERSION }), SHA_LINES).replace(
      `Version: ${VERSION}`,
      'Version: v9',
    );
    expect(parseBuildOutput(stdout).version).toBe(VERSION);
  });

  // The command runs without a pseudo-terminal, so its output has LF line ends. CRLF output
  // (a shell with a tty) has no marker line: nothing is taken from it, and the build fails clearly.
  it('finds no marker in CRLF output', () => {
    const stdout = output(dict({ version: VERSION }), SHA_LINES).replace(/\n/g, '\r\n');
    expect(parseBuildOutput(stdout)).toEqual({ version: null, files: {} });
  });

  it('takes sha lines that end in CR after LF markers', () => {
    const stdout = output(
      dict({ version: VERSION }),
      SHA_LINES.map((line) => `${line}\r`),
    );
    expect(parseBuildOutput(stdout)).toEqual({ version: VERSION, files: FILES });
  });
});
