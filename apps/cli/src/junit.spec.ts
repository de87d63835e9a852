import { junitReport } from './junit';
import type { BuildView } from './views';

interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const decode = (text: string): string =>
  text.replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => ENTITIES[e]!);

/**
 * A small, strict reader of the XML a JUnit report uses (declaration, elements, attributes, text):
 * throws on unbalanced tags, a raw `<` or `&`, or a character XML 1.0 forbids.
 */
function parseXml(xml: string): XmlElement {
  const forbidden = [...xml].find((c) => {
    const code = c.codePointAt(0)!;
    return (code < 0x20 && c !== '\t' && c !== '\n' && c !== '\r') || code === 0xfffe || code === 0xffff;
  });
  if (forbidden !== undefined)
    throw new Error(`a character XML 1.0 forbids: U+${forbidden.codePointAt(0)!.toString(16)}`);
  const body = xml.replace(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n/, '');
  if (body === xml) throw new Error('no XML declaration');
  const token = /<\/([A-Za-z][\w.-]*)>|<([A-Za-z][\w.-]*)((?:\s+[A-Za-z][\w.-]*="[^"]*")*)\s*(\/?)>|([^<]+)/y;
  const root: XmlElement = { name: '#document', attributes: {}, children: [], text: '' };
  const stack = [root];
  while (token.lastIndex < body.length) {
    const at = token.lastIndex;
    const match = token.exec(body);
    if (!match) throw new Error(`not XML at ${at}: ${JSON.stringify(body.slice(at, at + 40))}`);
    const [, close, open, attributes, selfClosing, text] = match;
    const top = stack[stack.length - 1]!;
    if (text !== undefined) {
      if (/&(?!(amp|lt|gt|quot|apos);)/.test(text)) throw new Error(`a raw & in ${JSON.stringify(text)}`);
      top.text += decode(text);
    } else if (close !== undefined) {
      if (close !== top.name) throw new Error(`</${close}> closes <${top.name}>`);
      stack.pop();
    } else {
      const element: XmlElement = { name: open!, attributes: {}, children: [], text: '' };
      for (const [, name, value] of attributes!.matchAll(/([A-Za-z][\w.-]*)="([^"]*)"/g)) {
        if (/[<]|&(?!(amp|lt|gt|quot|apos);)/.test(value!)) throw new Error(`a raw < or & in ${name}`);
        element.attributes[name!] = decode(value!);
      }
      top.children.push(element);
      if (!selfClosing) stack.push(element);
    }
  }
  if (stack.length !== 1) throw new Error(`<${stack[stack.length - 1]!.name}> is never closed`);
  if (root.children.length !== 1 || root.text.trim() !== '') throw new Error('not one root element');
  return root.children[0]!;
}

const all = (element: XmlElement, name: string): XmlElement[] => [
  ...element.children.filter((c) => c.name === name),
  ...element.children.flatMap((c) => all(c, name)),
];

type Profile = BuildView['profiles'][number];

const built: Profile = {
  name: 'stm32f446-usb',
  commit: 'a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0',
  kconfigSha256: '1111111111111111111111111111111111111111111111111111111111111111',
  mcus: ['voron1:mcu', 'voron2:mcu'],
  outcome: 'built',
  version: 'v0.13.0-12-ga1b2c3d4',
  files: { 'klipper.bin': { sha256: 'f'.repeat(64), size: 28_672 } },
  logTail: [],
};

const failed: Profile = {
  name: 'rp2040 <ebb> & "sb2040"',
  commit: built.commit,
  kconfigSha256: '2222222222222222222222222222222222222222222222222222222222222222',
  mcus: [],
  outcome: 'failed',
  version: null,
  files: {},
  logTail: [
    'src/rp2040/main.c:12: error: expected ";" before <token>',
    'make: *** [Makefile:72: out/src/rp2040/main.o] Error 1\u001b[0m',
    'tab\there & a nul\u0000 and a bell\u0007',
  ],
  error: 'make exited 2: <src/rp2040/main.c> & "flash"\u0001',
};

const build = (profiles: Profile[]): BuildView => ({
  id: 'b-20250301',
  ref: 'v0.13.0',
  commit: built.commit,
  version: 'v0.13.0-12-ga1b2c3d4',
  state: 'failed',
  reason: null,
  buildHostId: 'builder',
  rolloutId: null,
  createdAt: '2025-03-01T12:00:00.000Z',
  finishedAt: '2025-03-01T12:00:12.345Z',
  profiles,
  timings: { totalMs: 12_345 },
});

describe('junitReport', () => {
  it('one built and one failed profile: valid XML, one failure, markup escaped, control characters dropped', () => {
    const xml = junitReport(build([built, failed]));
    const suites = parseXml(xml);
    expect(suites.name).toBe('testsuites');
    expect(suites.attributes).toEqual({
      name: 'lockstep build v0.13.0',
      tests: '2',
      failures: '1',
      time: '12.345',
    });
    const [suite] = all(suites, 'testsuite');
    expect(suite!.attributes).toMatchObject({ tests: '2', failures: '1', time: '12.345' });
    expect(suite!.attributes.name).toBe('firmware v0.13.0 (v0.13.0-12-ga1b2c3d4)');

    const cases = all(suites, 'testcase');
    expect(cases.map((c) => c.attributes)).toEqual([
      {
        classname: 'lockstep.build.b-20250301',
        name: 'voron1:mcu, voron2:mcu (111111111111) at a1b2c3d4e5f6',
      },
      {
        classname: 'lockstep.build.b-20250301',
        name: 'rp2040 <ebb> & "sb2040" (222222222222) at a1b2c3d4e5f6',
      },
    ]);
    expect(all(cases[0]!, 'failure')).toEqual([]);
    expect(all(cases[0]!, 'system-out')[0]!.text).toBe(
      `version v0.13.0-12-ga1b2c3d4\nklipper.bin ${'f'.repeat(64)} 28672`,
    );

    const failures = all(suites, 'failure');
    expect(failures).toHaveLength(1);
    expect(failures[0]!.attributes.message).toBe('make exited 2: <src/rp2040/main.c> & "flash"');
    expect(failures[0]!.text).toBe(
      [
        'src/rp2040/main.c:12: error: expected ";" before <token>',
        'make: *** [Makefile:72: out/src/rp2040/main.o] Error 1[0m',
        'tab\there & a nul and a bell',
      ].join('\n'),
    );
  });

  it.each([
    ['a pending profile', 'not built', { ...failed, outcome: 'pending', error: undefined }],
    ['a failed profile without an error', 'the build failed', { ...failed, error: undefined }],
  ])('%s counts as a failure: %s', (_name, message, profile) => {
    const suites = parseXml(junitReport(build([built, profile, built])));
    expect(suites.attributes).toMatchObject({ tests: '3', failures: '1' });
    expect(all(suites, 'failure').map((f) => f.attributes.message)).toEqual([message]);
  });

  it('all built: no failures; no timings: time 0', () => {
    const suites = parseXml(junitReport({ ...build([built, built]), state: 'succeeded', timings: null }));
    expect(suites.attributes).toMatchObject({ tests: '2', failures: '0', time: '0.000' });
    expect(all(suites, 'failure')).toEqual([]);
  });

  it('the checker itself refuses broken XML', () => {
    const ok = '<?xml version="1.0" encoding="UTF-8"?>\n';
    expect(() => parseXml(`${ok}<a><b></a>`)).toThrow('closes');
    expect(() => parseXml(`${ok}<a>x & y</a>`)).toThrow('raw &');
    expect(() => parseXml(`${ok}<a>x < y</a>`)).toThrow('not XML');
    expect(() => parseXml(`${ok}<a m="<"></a>`)).toThrow('raw <');
    expect(() => parseXml(`${ok}<a>\u0007</a>`)).toThrow('forbids');
    expect(() => parseXml(`${ok}<a>`)).toThrow('never closed');
  });
});
