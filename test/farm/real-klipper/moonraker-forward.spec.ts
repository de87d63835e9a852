import { klippyRequestFor } from './moonraker-forward';

describe('klippyRequestFor: the Moonraker requests a real klippy answers', () => {
  const url = (path: string): URL => new URL(path, 'http://moonraker');

  it.each([
    ['GET /printer/info', '/printer/info', {}, { method: 'info', params: {} }],
    ['GET /printer/objects/list', '/printer/objects/list', {}, { method: 'objects/list', params: {} }],
    [
      'GET /printer/objects/query',
      '/printer/objects/query?print_stats&idle_timeout&mcu%20rpi=mcu_version,mcu_constants',
      {},
      {
        method: 'objects/query',
        params: {
          objects: { print_stats: null, idle_timeout: null, 'mcu rpi': ['mcu_version', 'mcu_constants'] },
        },
      },
    ],
    [
      'POST /printer/objects/query',
      '/printer/objects/query',
      { objects: { webhooks: ['state'], mcu: [] } },
      { method: 'objects/query', params: { objects: { webhooks: ['state'], mcu: null } } },
    ],
    [
      'POST /printer/restart',
      '/printer/restart',
      {},
      { method: 'gcode/script', params: { script: 'RESTART' } },
    ],
    [
      'POST /printer/firmware_restart',
      '/printer/firmware_restart',
      {},
      { method: 'gcode/script', params: { script: 'FIRMWARE_RESTART' } },
    ],
  ])('%s', (route, path, body, expected) => {
    expect(klippyRequestFor(route, url(path), body)).toEqual(expected);
  });

  it.each([
    'GET /server/info',
    'POST /server/job_queue/pause',
    'POST /machine/services/restart',
    'POST /printer/info',
  ])('leaves %s to Moonraker itself', (route) => {
    expect(klippyRequestFor(route, url(route.split(' ')[1]!), {})).toBeUndefined();
  });
});
