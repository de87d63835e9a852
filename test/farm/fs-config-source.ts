import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { expandGlob, type ConfigFileSource, type DirectoryView } from '@lockstep/mcu';

const fileSystem: DirectoryView = {
  list: (dir) => {
    try {
      return readdirSync(dir);
    } catch {
      return null;
    }
  },
  exists: (path) => {
    try {
      lstatSync(path);
      return true;
    } catch {
      return false;
    }
  },
};

/** printer.cfg files read from the local file system. */
export const fileSystemConfigSource: ConfigFileSource = {
  read: (path) => readFileSync(path, 'utf8'),
  glob: (pattern) => expandGlob(pattern, fileSystem),
};
