import { BUILD_DICT_MARK, BUILD_SHA_MARK, parseBuildOutput, type BuildOutput } from '@lockstep/mcu';
import type { PrinterHost } from './printer-host';
import { shellCommand, shellQuote } from './shell-quote';
import type { RemoteResult } from './ssh-session';

export interface MakeResult {
  result: RemoteResult;
  /** What the build printed after make: its dictionary's version and its files' SHA-256. */
  built: BuildOutput;
}

/**
 * One Klipper build in one command on a host: the Kconfig (from stdin) into `<out>.config`,
 * olddefconfig, make in `worktree` with OUT=`out`, only the klipper.* artifacts kept, then the
 * data dictionary and the artifacts' SHA-256 printed after marker lines.
 */
export async function makeFirmware(
  host: PrinterHost,
  input: { worktree: string; out: string; kconfig: string; timeoutSeconds: number },
): Promise<MakeResult> {
  const { worktree, out } = input;
  const config = `${out}.config`;
  const make = (goal: string[]): string =>
    shellCommand(['make', `KCONFIG_CONFIG=${config}`, `OUT=${out}/`, ...goal]);
  const script = [
    'set -e',
    `mkdir -p ${shellQuote(out.slice(0, out.lastIndexOf('/')))}`,
    `cat > ${shellQuote(config)}`,
    `cd ${shellQuote(worktree)}`,
    `rm -rf ${shellQuote(out)}`,
    `${make(['olddefconfig'])} >/dev/null`,
    make([]),
    `cd ${shellQuote(out)}`,
    `find . -mindepth 1 -maxdepth 1 ! -name 'klipper.*' -exec rm -rf {} +`,
    `echo ${BUILD_DICT_MARK}`,
    'cat klipper.dict',
    'echo',
    `echo ${BUILD_SHA_MARK}`,
    'sha256sum klipper.*',
  ].join('\n');
  const result = await host.run(script, { timeoutSeconds: input.timeoutSeconds, stdin: input.kconfig });
  return {
    result,
    built: result.code === 0 ? parseBuildOutput(result.stdout) : { version: null, files: {} },
  };
}
