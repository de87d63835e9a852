/** A request to klippy's API server that a Moonraker HTTP request becomes. */
export interface KlippyRequest {
  method: string;
  params: Record<string, unknown>;
}

/** `?a&b=f1,f2` and a JSON body's `objects` as klippy's objects/query takes them: name → fields or null. */
export function requestedObjects(url: URL, body: Record<string, unknown>): Record<string, string[] | null> {
  const requested: Record<string, string[] | null> = {};
  if (body.objects && typeof body.objects === 'object') {
    for (const [name, fields] of Object.entries(body.objects as Record<string, unknown>)) {
      requested[name] = Array.isArray(fields) && fields.length > 0 ? fields.map(String) : null;
    }
  }
  for (const [name, value] of url.searchParams) requested[name] = value ? value.split(',') : null;
  return requested;
}

/**
 * The printer endpoints Moonraker passes on to klippy (moonraker/components/klippy_apis.py:
 * `/printer/<endpoint>` is klippy's endpoint; restarts are the RESTART and FIRMWARE_RESTART
 * G-code), or undefined for what Moonraker answers itself.
 */
export function klippyRequestFor(
  route: string,
  url: URL,
  body: Record<string, unknown>,
): KlippyRequest | undefined {
  switch (route) {
    case 'GET /printer/info':
      return { method: 'info', params: {} };
    case 'GET /printer/objects/list':
      return { method: 'objects/list', params: {} };
    case 'GET /printer/objects/query':
    case 'POST /printer/objects/query':
      return { method: 'objects/query', params: { objects: requestedObjects(url, body) } };
    case 'POST /printer/restart':
      return { method: 'gcode/script', params: { script: 'RESTART' } };
    case 'POST /printer/firmware_restart':
      return { method: 'gcode/script', params: { script: 'FIRMWARE_RESTART' } };
    default:
      return undefined;
  }
}
