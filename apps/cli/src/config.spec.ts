import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiToken, apiUrl, configPath, loadConnection, saveConnection } from './config';
import { CliError } from './exit-codes';

function errorOf(fn: () => unknown): CliError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    return error as CliError;
  }
  throw new Error('expected a CliError, got none');
}

const TOKEN_A = 'lst_aaaaaaaaaaaaaaaaaaaa';
const TOKEN_B = 'lst_bbbbbbbbbbbbbbbbbbbb';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fleetctl-config-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('configPath', () => {
  it.each([
    [
      'LOCKSTEP_CONFIG wins over everything',
      { LOCKSTEP_CONFIG: '/etc/fleetctl.json', XDG_CONFIG_HOME: '/x', HOME: '/home/op' },
      '/etc/fleetctl.json',
    ],
    [
      'XDG_CONFIG_HOME over HOME',
      { XDG_CONFIG_HOME: '/x/config', HOME: '/home/op' },
      '/x/config/lockstep/fleetctl.json',
    ],
    ['HOME/.config', { HOME: '/home/op' }, '/home/op/.config/lockstep/fleetctl.json'],
    [
      'an empty XDG_CONFIG_HOME counts as unset',
      { XDG_CONFIG_HOME: '', HOME: '/home/op' },
      '/home/op/.config/lockstep/fleetctl.json',
    ],
  ])('%s', (_name, env, expected) => {
    expect(configPath(env)).toBe(expected);
  });
});

describe('apiUrl', () => {
  it.each([
    ['http://lockstep:8080', 'http://lockstep:8080'],
    ['http://lockstep:8080/', 'http://lockstep:8080'],
    ['https://ops.example.com/lockstep//', 'https://ops.example.com/lockstep'],
    ['HTTP://Lockstep.Example', 'http://lockstep.example'],
    ['http://[::1]:8080', 'http://[::1]:8080'],
  ])('%s becomes %s', (value, expected) => {
    expect(apiUrl(value, '--url')).toBe(expected);
  });

  it.each([
    ['not a URL', 'the lockstep server', 'not a URL'],
    ['a host without a scheme', 'lockstep:8080', 'http:// or https://'],
    ['ftp', 'ftp://lockstep/', 'http:// or https://'],
    ['file', 'file:///etc/passwd', 'http:// or https://'],
    ['a user in the URL', 'http://admin@lockstep:8080', 'LOCKSTEP_TOKEN'],
    ['a password in the URL', 'http://admin:s3cret-pass@lockstep:8080', 'LOCKSTEP_TOKEN'],
    ['a query', 'http://lockstep:8080/?token=abc', 'without a query'],
    ['a fragment', 'http://lockstep:8080/#x', 'without a query or fragment'],
  ])('refuses %s, naming where it came from', (_name, value, says) => {
    const error = errorOf(() => apiUrl(value, 'LOCKSTEP_URL'));
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain('LOCKSTEP_URL');
    expect(error.message).toContain(says);
    expect(error.message).not.toContain('s3cret-pass');
  });

  it('never repeats a value that is not a URL: it may be a token given in its place', () => {
    const token = 'lst_0123456789ab_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH';
    const error = errorOf(() => apiUrl(token, 'LOCKSTEP_URL'));
    expect(error.exitCode).toBe(2);
    expect(error.message).not.toContain(token.slice(4, 20));
  });
});

describe('apiToken', () => {
  it('takes a token, without the whitespace around it', () => {
    expect(apiToken(`  ${TOKEN_A}\n`, '--token')).toBe(TOKEN_A);
  });

  it.each([
    ['with a space', 'lst_aaaa bbbbbbbb'],
    ['with a tab', 'lst_aaaa\tbbbbbbbb'],
    ['too short', 'lst_abc'],
    ['empty', ''],
    ['too long', 'x'.repeat(513)],
    ['not ASCII', 'lst_äääääääääää'],
    ['with a control character', 'lst_aaaaaaa\u0007bbbb'],
  ])('refuses one %s, without repeating it', (_name, value) => {
    const error = errorOf(() => apiToken(value, 'LOCKSTEP_TOKEN'));
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain('LOCKSTEP_TOKEN');
    if (value.length > 0) expect(error.message).not.toContain(value.trim());
  });
});

describe('loadConnection', () => {
  const fileWith = (content: unknown): string => {
    const path = join(dir, 'fleetctl.json');
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  };

  it('reads the login file', () => {
    const path = fileWith({ url: 'http://file:8080/', token: TOKEN_A });
    expect(loadConnection({ LOCKSTEP_CONFIG: path })).toEqual({ url: 'http://file:8080', token: TOKEN_A });
  });

  it.each([
    ['LOCKSTEP_URL over the file', { LOCKSTEP_URL: 'http://env:1' }, { url: 'http://env:1', token: TOKEN_A }],
    [
      'LOCKSTEP_TOKEN over the file',
      { LOCKSTEP_TOKEN: TOKEN_B },
      { url: 'http://file:8080', token: TOKEN_B },
    ],
    [
      'both over the file',
      { LOCKSTEP_URL: 'http://env:1', LOCKSTEP_TOKEN: TOKEN_B },
      { url: 'http://env:1', token: TOKEN_B },
    ],
  ])('%s', (_name, env, expected) => {
    const path = fileWith({ url: 'http://file:8080', token: TOKEN_A });
    expect(loadConnection({ LOCKSTEP_CONFIG: path, ...env })).toEqual(expected);
  });

  it('needs no file when the environment has both', () => {
    const env = {
      LOCKSTEP_CONFIG: join(dir, 'none.json'),
      LOCKSTEP_URL: 'http://env:1',
      LOCKSTEP_TOKEN: TOKEN_B,
    };
    expect(loadConnection(env)).toEqual({ url: 'http://env:1', token: TOKEN_B });
  });

  it.each([
    ['nothing at all', {}, null, 'no API URL'],
    ['a token but no URL', { LOCKSTEP_TOKEN: TOKEN_A }, null, 'no API URL'],
    ['a URL but no token', { LOCKSTEP_URL: 'http://env:1' }, null, 'no token'],
    ['a file with a URL alone', {}, { url: 'http://file:8080' }, 'no token'],
    ['a file with a token alone', {}, { token: TOKEN_A }, 'no API URL'],
  ])('%s: exit code 4, saying what to set', (_name, env, file, says) => {
    const LOCKSTEP_CONFIG = file ? fileWith(file) : join(dir, 'none.json');
    const error = errorOf(() => loadConnection({ LOCKSTEP_CONFIG, ...env }));
    expect(error.exitCode).toBe(4);
    expect(error.message).toContain(says);
    expect(error.message).toContain('LOCKSTEP_URL');
    expect(error.message).toContain('LOCKSTEP_TOKEN');
    expect(error.message).toContain('fleetctl login');
  });

  it.each([
    ['not JSON', '{"url": ', 'not JSON'],
    ['not an object', 'null', 'not a fleetctl configuration'],
    ['a bad URL', { url: 'ftp://file', token: TOKEN_A }, 'url'],
    ['a bad token', { url: 'http://file:8080', token: 'two words' }, 'token'],
  ])('a login file with %s is refused, naming the file', (_name, content, says) => {
    const path = fileWith(content);
    const error = errorOf(() => loadConnection({ LOCKSTEP_CONFIG: path }));
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain(path);
    expect(error.message).toContain(says);
  });

  it.each([
    ['LOCKSTEP_URL', { LOCKSTEP_URL: 'http://u:p@env:1', LOCKSTEP_TOKEN: TOKEN_A }],
    ['LOCKSTEP_TOKEN', { LOCKSTEP_URL: 'http://env:1', LOCKSTEP_TOKEN: 'short' }],
  ])('a bad %s is refused, naming it', (name, env) => {
    const error = errorOf(() => loadConnection({ LOCKSTEP_CONFIG: join(dir, 'none.json'), ...env }));
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain(name);
  });
});

describe('saveConnection', () => {
  it('writes a file only its owner may read, which loadConnection reads back', () => {
    const env = { XDG_CONFIG_HOME: join(dir, 'config') };
    const path = saveConnection(env, { url: 'https://ops.example.com', token: TOKEN_A });
    expect(path).toBe(join(dir, 'config', 'lockstep', 'fleetctl.json'));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'config', 'lockstep')).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({
      url: 'https://ops.example.com',
      token: TOKEN_A,
    });
    expect(loadConnection(env)).toEqual({ url: 'https://ops.example.com', token: TOKEN_A });
  });

  it('makes an existing, readable file private when it rewrites it', () => {
    const path = join(dir, 'fleetctl.json');
    writeFileSync(path, '{}');
    chmodSync(path, 0o644);
    saveConnection({ LOCKSTEP_CONFIG: path }, { url: 'http://lockstep:8080', token: TOKEN_B });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(loadConnection({ LOCKSTEP_CONFIG: path })).toEqual({
      url: 'http://lockstep:8080',
      token: TOKEN_B,
    });
  });
});
