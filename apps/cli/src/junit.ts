import type { BuildView } from './views';

/** Text as XML attribute or element content: markup escaped, characters XML 1.0 forbids dropped. */
const escape = (text: string): string =>
  [...text]
    .filter((c) => (c >= ' ' && c !== '\ufffe' && c !== '\uffff') || c === '\t' || c === '\n' || c === '\r')
    .join('')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');

/** A build as a JUnit report: one test case per profile, failed with make's last lines. */
export function junitReport(build: BuildView): string {
  const seconds = (ms: number | undefined): string => ((ms ?? 0) / 1000).toFixed(3);
  const failures = build.profiles.filter((p) => p.outcome !== 'built').length;
  const cases = build.profiles.map((p) => {
    const name = `${p.mcus.join(', ') || p.name} (${p.kconfigSha256.slice(0, 12)}) at ${p.commit.slice(0, 12)}`;
    const open = `    <testcase classname="lockstep.build.${escape(build.id)}" name="${escape(name)}">`;
    if (p.outcome === 'built')
      return `${open}\n      <system-out>${escape([`version ${p.version ?? '?'}`, ...Object.entries(p.files).map(([f, s]) => `${f} ${s.sha256} ${s.size}`)].join('\n'))}</system-out>\n    </testcase>`;
    const message = p.error ?? (p.outcome === 'pending' ? 'not built' : 'the build failed');
    return `${open}\n      <failure message="${escape(message)}">${escape(p.logTail.join('\n'))}</failure>\n    </testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="lockstep build ${escape(build.ref)}" tests="${build.profiles.length}" failures="${failures}" time="${seconds(build.timings?.totalMs)}">`,
    `  <testsuite name="firmware ${escape(build.ref)} (${escape(build.version)})" tests="${build.profiles.length}" failures="${failures}" time="${seconds(build.timings?.totalMs)}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
