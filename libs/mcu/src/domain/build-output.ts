/**
 * One build runs as one command on the host; after make it prints the data dictionary and the
 * artifacts' SHA-256 sums, each after a marker line.
 */
export const BUILD_DICT_MARK = '@@LOCKSTEP-DICT@@';
export const BUILD_SHA_MARK = '@@LOCKSTEP-SHA256@@';

export interface BuildOutput {
  /** `version` of the built klipper.dict: exactly what the MCU will report after the flash. */
  version: string | null;
  /** Artifact file name (klipper.elf, klipper.bin, ...) to SHA-256. */
  files: Record<string, string>;
}

const SHA_LINE = /^([0-9a-f]{64}) {2}(klipper\.[a-z0-9]+)$/;

export function parseBuildOutput(stdout: string): BuildOutput {
  const dictAt = stdout.indexOf(`${BUILD_DICT_MARK}\n`);
  if (dictAt < 0) return { version: null, files: {} };
  const afterDict = stdout.slice(dictAt + BUILD_DICT_MARK.length + 1);
  const shaAt = afterDict.indexOf(`${BUILD_SHA_MARK}\n`);
  const dictText = shaAt < 0 ? afterDict : afterDict.slice(0, shaAt);
  const shaText = shaAt < 0 ? '' : afterDict.slice(shaAt + BUILD_SHA_MARK.length + 1);
  let version: string | null;
  try {
    const dict = JSON.parse(dictText) as { version?: unknown };
    version = typeof dict?.version === 'string' ? dict.version : null;
  } catch {
    version = null;
  }
  const files: Record<string, string> = {};
  for (const line of shaText.split('\n')) {
    const match = SHA_LINE.exec(line.trim());
    if (match) files[match[2]!] = match[1]!;
  }
  return { version, files };
}
