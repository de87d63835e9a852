import { expandGlob, hasMagic, segmentRegExp, type DirectoryView } from './glob';

/** An in-memory tree: directories end with '/'. */
function view(paths: string[]): DirectoryView {
  const entries = new Set<string>();
  for (const path of paths) {
    const parts = path.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const isDir = i < parts.length || path.endsWith('/');
      entries.add('/' + parts.slice(0, i).join('/') + (isDir ? '/' : ''));
    }
  }
  return {
    list(dir) {
      const key = dir === '/' ? '/' : `${dir}/`;
      if (key !== '/' && !entries.has(key)) return null;
      return [...entries]
        .filter((e) => e.startsWith(key) && e !== key && !e.slice(key.length, -1).includes('/'))
        .map((e) => e.slice(key.length).replace(/\/$/, ''));
    },
    exists(path) {
      return entries.has(path) || entries.has(`${path}/`);
    },
  };
}

const tree = view([
  '/cfg/printer.cfg',
  '/cfg/.hidden.cfg',
  '/cfg/macros/a.cfg',
  '/cfg/macros/b.cfg',
  '/cfg/macros/c.txt',
  '/cfg/macros/sub/d.cfg',
  '/cfg/toolheads/t0/head.cfg',
  '/cfg/toolheads/t1/head.cfg',
  '/cfg/toolheads/notes.cfg',
  '/cfg/[x].cfg',
  '/cfg/empty/',
]);

describe('expandGlob', () => {
  it.each([
    ['/cfg/macros/*.cfg', ['/cfg/macros/a.cfg', '/cfg/macros/b.cfg']],
    ['/cfg/macros/?.cfg', ['/cfg/macros/a.cfg', '/cfg/macros/b.cfg']],
    ['/cfg/macros/[ac].*', ['/cfg/macros/a.cfg', '/cfg/macros/c.txt']],
    ['/cfg/macros/[!a].cfg', ['/cfg/macros/b.cfg']],
    ['/cfg/macros/[a-b].cfg', ['/cfg/macros/a.cfg', '/cfg/macros/b.cfg']],
    ['/cfg/*.cfg', ['/cfg/printer.cfg', '/cfg/[x].cfg']],
    ['/cfg/.*.cfg', ['/cfg/.hidden.cfg']],
    ['/cfg/toolheads/*/head.cfg', ['/cfg/toolheads/t0/head.cfg', '/cfg/toolheads/t1/head.cfg']],
    ['/cfg/**/*.cfg', ['/cfg/macros/a.cfg', '/cfg/macros/b.cfg', '/cfg/toolheads/notes.cfg']],
    ['/cfg/printer.cfg', ['/cfg/printer.cfg']],
    ['/cfg/missing.cfg', []],
    ['/cfg/empty/*.cfg', []],
    ['/nope/*.cfg', []],
    ['/cfg/printer.cfg/*', []],
  ])('%s', (pattern, expected) => {
    expect(expandGlob(pattern, tree).sort()).toEqual([...expected].sort());
  });

  it('requires an absolute pattern', () => {
    expect(() => expandGlob('cfg/*.cfg', tree)).toThrow(/must be absolute/);
  });
});

describe('segmentRegExp', () => {
  it.each([
    ['[x].cfg', 'x.cfg', true],
    ['[x].cfg', '[x].cfg', false],
    ['[x', '[x', true],
    ['[]a]', ']', true],
    ['[!]a]', 'b', true],
    ['[!]a]', ']', false],
    ['[^a]', '^', true],
    ['[^a]', 'b', false],
    ['a\\b', 'a\\b', true],
    ['a.cfg', 'abcfg', false],
    ['*.CFG', 'a.cfg', false],
  ])('%s matches %s: %s', (pattern, name, expected) => {
    expect(segmentRegExp(pattern).test(name)).toBe(expected);
  });

  it.each([
    ['a*.cfg', true],
    ['a?', true],
    ['[ab]', true],
    ['plain.cfg', false],
  ])('hasMagic(%s) is %s', (pattern, expected) => {
    expect(hasMagic(pattern)).toBe(expected);
  });
});
