import { FieldError } from './field-error';
import {
  assertSafeVersion,
  isUniqueBuild,
  parseKlipperVersion,
  versionsMatch,
  type KlipperVersion,
} from './klipper-version';

type Parsed = Omit<KlipperVersion, 'raw'>;
const clean = { dirty: false, buildSuffix: null, valid: true };

describe('parseKlipperVersion', () => {
  it.each<[string, Parsed]>([
    ['v0.13.0-123-gabcdef12', { ...clean, tag: 'v0.13.0', commitsSinceTag: 123, commit: 'abcdef12' }],
    [
      'v0.13.0-0-g1b6ba2e-dirty',
      { ...clean, tag: 'v0.13.0', commitsSinceTag: 0, commit: '1b6ba2e', dirty: true },
    ],
    [
      'v0.13.0-123-gabcdef12-dirty-20261127_090541-printer-01',
      {
        tag: 'v0.13.0',
        commitsSinceTag: 123,
        commit: 'abcdef12',
        dirty: true,
        buildSuffix: { date: '20261127_090541', host: 'printer-01' },
        valid: true,
      },
    ],
    [
      // A mixed toolchain stamps a clean tree too.
      'v0.12.0-272-g13c75ea87-20250102_030405-voron.local',
      {
        tag: 'v0.12.0',
        commitsSinceTag: 272,
        commit: '13c75ea87',
        dirty: false,
        buildSuffix: { date: '20250102_030405', host: 'voron.local' },
        valid: true,
      },
    ],
    ['v0.13.0-rc1-5-g0123abcd', { ...clean, tag: 'v0.13.0-rc1', commitsSinceTag: 5, commit: '0123abcd' }],
    ['1b6ba2e', { ...clean, tag: null, commitsSinceTag: null, commit: '1b6ba2e' }],
    ['1b6ba2e-dirty', { ...clean, tag: null, commitsSinceTag: null, commit: '1b6ba2e', dirty: true }],
    [
      '1b6ba2e-dirty-20261127_090541-host',
      {
        tag: null,
        commitsSinceTag: null,
        commit: '1b6ba2e',
        dirty: true,
        buildSuffix: { date: '20261127_090541', host: 'host' },
        valid: true,
      },
    ],
    ['?', { ...clean, tag: null, commitsSinceTag: null, commit: null }],
    [
      '?-20261127_090541-vm',
      {
        ...clean,
        tag: null,
        commitsSinceTag: null,
        commit: null,
        buildSuffix: { date: '20261127_090541', host: 'vm' },
      },
    ],
    [
      'v0.13.0-1-gabcdef1-20261127_090541-host-20261127_090542-x',
      {
        tag: 'v0.13.0',
        commitsSinceTag: 1,
        commit: 'abcdef1',
        dirty: false,
        buildSuffix: { date: '20261127_090541', host: 'host-20261127_090542-x' },
        valid: true,
      },
    ],
  ])('%s', (raw, expected) => {
    expect(parseKlipperVersion(raw)).toEqual({ raw, ...expected });
  });

  it.each([
    ['empty', ''],
    ['a plain word', 'master'],
    ['a short tag without --long', 'v0.13.0'],
    ['upper-case hash', 'v0.13.0-1-gABCDEF1'],
    ['a hash too short', 'abc'],
    ['an unknown suffix', 'v0.13.0-1-gabcdef1-shallow'],
  ])('marks %s as invalid', (_name, raw) => {
    expect(parseKlipperVersion(raw)).toMatchObject({ raw, valid: false, tag: null, commit: null });
  });
});

describe('versionsMatch', () => {
  it.each([
    ['v0.13.0-123-gabcdef12', 'v0.13.0-123-gabcdef12', true],
    ['v0.13.0-0-g1b6ba2e-dirty', 'v0.13.0-0-g1b6ba2e-dirty', true],
    ['?', '?', true],
    ['v0.13.0-123-gabcdef12', 'v0.13.0-123-gabcdef1', false],
    ['v0.13.0-123-gabcdef12', 'v0.13.0-123-gABCDEF12', false],
    ['v0.13.0-123-gabcdef12 ', 'v0.13.0-123-gabcdef12', false],
    ['v0.13.0-0-g1b6ba2e-dirty-20261127_090541-pi', 'v0.13.0-0-g1b6ba2e-dirty', false],
    ['', '', true],
  ])('%j vs %j → %s (plain string equality, as Klipper)', (mcu, host, expected) => {
    expect(versionsMatch(mcu, host)).toBe(expected);
  });
});

describe('isUniqueBuild', () => {
  it.each([
    ['v0.13.0-123-gabcdef12', false],
    ['v0.13.0-0-g1b6ba2e-dirty', false],
    ['v0.13.0-0-g1b6ba2e-dirty-20261127_090541-printer-01', true],
    ['v0.13.0-0-g1b6ba2e-20261127_090541-printer-01', true],
    ['?-20261127_090541-host', true],
    ['?', false],
  ])('%s → %s', (version, expected) => {
    expect(isUniqueBuild(version)).toBe(expected);
    expect(isUniqueBuild(parseKlipperVersion(version))).toBe(expected);
  });
});

describe('assertSafeVersion', () => {
  it.each([
    'v0.13.0-123-gabcdef12',
    'v0.13.0-0-g1b6ba2e-dirty-20261127_090541-printer-01',
    '1b6ba2e',
    '?',
    '?-20261127_090541-host',
    'v0.13.0+local',
  ])('accepts %s', (version) => {
    expect(assertSafeVersion(version, 'targetVersion')).toBe(version);
  });

  it.each([
    ['', /targetVersion: empty version/],
    ['-v0.13.0', /targetVersion: must not start with '-'/],
    ['..', /targetVersion: must not start with '\.'/],
    ['v0.13.0; reboot', /targetVersion: "v0\.13\.0; reboot" is not a Klipper version/],
    ['v0.13.0 $(id)', /targetVersion: .* is not a Klipper version/],
    ['v0.13.0/../../etc', /targetVersion: .* is not a Klipper version/],
    ['v0.13.0\nreboot', /targetVersion: "v0\.13\.0\\nreboot" is not/],
    ['v?', /targetVersion: .* is not a Klipper version/],
    ['??', /targetVersion: .* is not a Klipper version/],
    ['v'.repeat(201), /targetVersion: longer than 200 characters/],
  ])('rejects %j', (version, message) => {
    expect(() => assertSafeVersion(version, 'targetVersion')).toThrow(message);
    expect(() => assertSafeVersion(version, 'targetVersion')).toThrow(FieldError);
  });
});
