import { execFileSync } from 'node:child_process';
import { shellCommand, shellQuote } from './shell-quote';

describe('shellQuote', () => {
  it.each([
    ['plain', 'plain'],
    [
      '/dev/serial/by-id/usb-Klipper_stm32f446xx_3B00-if00',
      '/dev/serial/by-id/usb-Klipper_stm32f446xx_3B00-if00',
    ],
    ['two words', "'two words'"],
    ["it's", "'it'\\''s'"],
    ['$(reboot)', "'$(reboot)'"],
    ['', "''"],
  ])('%s -> %s', (input, expected) => {
    expect(shellQuote(input)).toBe(expected);
  });

  it.each(['; rm -rf ~', '$(touch /tmp/x)', '`id`', 'a\'b"c', 'line\nbreak', '*', '~', '-n'])(
    'a real shell gets %j back unchanged',
    (word) => {
      const out = execFileSync('/bin/sh', ['-c', `printf %s ${shellQuote(word)}`], { encoding: 'utf8' });
      expect(out).toBe(word);
    },
  );

  it('rejects NUL bytes', () => {
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
  });

  it('joins an argument vector', () => {
    expect(shellCommand(['make', 'KCONFIG_CONFIG=/a b/c', 'OUT=/o/'])).toBe(
      "make 'KCONFIG_CONFIG=/a b/c' OUT=/o/",
    );
    expect(() => shellCommand([])).toThrow(/empty/);
  });
});
