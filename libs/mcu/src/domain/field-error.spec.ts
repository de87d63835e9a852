import { FieldError, fieldName, quote } from './field-error';

describe('fieldName', () => {
  it.each<[PropertyKey[], string]>([
    [['mcus', 2, 'serial'], 'mcus.2.serial'],
    [['can', 'can0', 'socket'], 'can.can0.socket'],
    [['target', 'ref'], 'target.ref'],
    [[], ''],
  ])('%j → %s (the dotted style zod prints)', (path, name) => {
    expect(fieldName(path)).toBe(name);
  });
});

describe('FieldError', () => {
  it('names the field before the detail', () => {
    const error = new FieldError('mcus.1.kconfig', '[mcu] line 3: CONFIG_X: backtick in a string value');
    expect(error.message).toBe('mcus.1.kconfig: [mcu] line 3: CONFIG_X: backtick in a string value');
    expect(error).toMatchObject({ field: 'mcus.1.kconfig', detail: expect.stringMatching(/^\[mcu\]/) });
  });
});

describe('quote', () => {
  it('keeps control characters visible and long values short', () => {
    expect(quote('a\nb')).toBe('"a\\nb"');
    expect(quote('x'.repeat(100))).toBe(`"${'x'.repeat(77)}..."`);
  });
});
