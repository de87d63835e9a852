import { expandGlob, type ConfigFileSource } from '@lockstep/mcu';

/** printer.cfg and its includes as the probe collected them from the host. */
export function memoryConfigSource(files: Record<string, string>): ConfigFileSource {
  const paths = Object.keys(files);
  const view = {
    list: (dir: string): string[] | null => {
      const prefix = dir.endsWith('/') ? dir : `${dir}/`;
      const names = new Set(
        paths.filter((p) => p.startsWith(prefix)).map((p) => p.slice(prefix.length).split('/')[0]!),
      );
      return names.size > 0 ? [...names] : null;
    },
    exists: (path: string): boolean => path in files || paths.some((p) => p.startsWith(`${path}/`)),
  };
  return {
    read: (path) => {
      const text = files[path];
      if (text === undefined) throw new Error(`${path} was not collected from the host`);
      return text;
    },
    glob: (pattern) => expandGlob(pattern, view),
  };
}
