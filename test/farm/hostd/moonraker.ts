import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { KlippyApiError } from '../real-klipper/klippy-api';
import { klippyRequestFor } from '../real-klipper/moonraker-forward';
import { RealKlippy } from '../real-klipper/real-klippy';
import type { Klippy } from './klippy';
import type { MoonrakerAuthorization } from './moonraker-auth';
import type { PrintJob } from './print-job';
import type { ServiceManager } from './services';

const ALLOWED_SERVICE = /^(klipper|moonraker)[_-]?\d*$/;
const EXTRA_ALLOWED = ['klipper_mcu', 'klipper-mcu', 'webcamd', 'crowsnest', 'KlipperScreen'];

class HttpError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Moonraker's HTTP API on port 7125, for what an updater needs: Klippy's state and software
 * version, print and idle state, MCU versions, the job queue and service control. Responses have
 * Moonraker's shapes: `{"result": ...}` or `{"error": {"code", "message", "traceback"}}`.
 * Every request passes Moonraker's authorization first (moonraker-auth.ts).
 */
export class Moonraker {
  private server?: Server;
  private readonly started = Date.now();

  constructor(
    private readonly deps: {
      hostname: string;
      klipperPath: string;
      configFile: string;
      klippy: Klippy | RealKlippy;
      print: PrintJob;
      services: ServiceManager;
      authorization: MoonrakerAuthorization;
    },
  ) {}

  get listening(): boolean {
    return this.server?.listening ?? false;
  }

  async listen(port: number): Promise<void> {
    if (this.listening) return;
    await this.deps.authorization.load();
    const server = createServer((req, res) => void this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '0.0.0.0', () => resolve());
    });
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://moonraker');
      const refused = this.deps.authorization.check(req, url);
      if (refused) {
        req.resume();
        send(res, refused.code, { error: refused });
        return;
      }
      const body = await readJsonBody(req);
      const result = await this.route(req.method ?? 'GET', url, body);
      send(res, 200, { result });
    } catch (error) {
      const code = error instanceof HttpError ? error.code : 500;
      const message = error instanceof Error ? error.message : String(error);
      send(res, code, { error: { code, message, traceback: '' } });
    }
  }

  private async route(method: string, url: URL, body: Record<string, unknown>): Promise<unknown> {
    const { klippy, print, services } = this.deps;
    const arg = (name: string): string | undefined => {
      const value = url.searchParams.get(name) ?? body[name];
      return typeof value === 'string' ? value : undefined;
    };
    const route = `${method} ${url.pathname}`;
    // A real klippy answers the printer endpoints itself, through its API server.
    const forwarded = klippy instanceof RealKlippy ? klippyRequestFor(route, url, body) : undefined;
    if (forwarded) return this.forward(klippy as RealKlippy, forwarded.method, forwarded.params);
    switch (route) {
      case 'GET /server/info':
        return {
          klippy_connected: klippy.running,
          klippy_state: klippy.state,
          components: ['klippy_connection', 'application', 'job_queue', 'machine', 'update_manager'],
          failed_components: [],
          registered_directories: ['config', 'logs', 'gcodes'],
          warnings: [],
          websocket_count: 0,
          moonraker_version: 'v0.9.3-0-gd5ee171',
          missing_klippy_requirements: [],
          api_version: [1, 5, 0],
          api_version_string: '1.5.0',
        };
      case 'GET /printer/info':
        this.requireKlippy();
        return {
          state: klippy.state,
          state_message: klippy.stateMessage,
          hostname: this.deps.hostname,
          klipper_path: this.deps.klipperPath,
          python_path: `${this.deps.klipperPath.replace(/klipper$/, 'klippy-env')}/bin/python`,
          process_id: process.pid,
          user_id: 1000,
          group_id: 1000,
          log_file: `${this.deps.configFile.replace(/config\/printer\.cfg$/, 'logs/klippy.log')}`,
          config_file: this.deps.configFile,
          software_version: klippy.softwareVersion,
          cpu_info: '4 core ARMv7 Processor rev 3 (v7l)',
        };
      case 'GET /printer/objects/list':
        this.requireKlippy();
        return {
          objects: ['webhooks', 'print_stats', 'idle_timeout', 'virtual_sdcard', ...this.mcuObjects()],
        };
      case 'GET /printer/objects/query':
      case 'POST /printer/objects/query': {
        this.requireKlippy();
        const requested: Record<string, string[] | null> = {};
        if (body.objects && typeof body.objects === 'object') {
          for (const [name, fields] of Object.entries(body.objects as Record<string, unknown>)) {
            requested[name] = Array.isArray(fields) && fields.length > 0 ? fields.map(String) : null;
          }
        }
        for (const [name, value] of url.searchParams) {
          requested[name] = value ? value.split(',') : null;
        }
        const status: Record<string, unknown> = {};
        for (const [name, fields] of Object.entries(requested)) {
          const object = this.printerObject(name);
          status[name] = fields ? Object.fromEntries(fields.map((f) => [f, object[f] ?? null])) : object;
        }
        return { eventtime: (Date.now() - this.started) / 1000, status };
      }
      case 'POST /printer/restart':
      case 'POST /printer/firmware_restart':
        this.requireKlippy();
        await klippy.restart();
        return 'ok';
      case 'GET /server/job_queue/status':
        return { queued_jobs: [], queue_state: print.queueState };
      case 'POST /server/job_queue/pause':
        print.queueState = 'paused';
        return { queued_jobs: [], queue_state: print.queueState };
      case 'POST /server/job_queue/start':
        // With no queued jobs the queue stays paused, as Moonraker's does.
        return { queued_jobs: [], queue_state: print.queueState };
      case 'POST /machine/services/start':
      case 'POST /machine/services/stop':
      case 'POST /machine/services/restart': {
        const service = arg('service');
        if (!service) throw new HttpError(400, 'No data for argument: service');
        const action = url.pathname.split('/').pop()!;
        if (!ALLOWED_SERVICE.test(service) && !EXTRA_ALLOWED.includes(service)) {
          throw new HttpError(400, `Service '${service}' not allowed`);
        }
        if (service.startsWith('moonraker') && action !== 'restart') {
          throw new HttpError(400, `Service action '${action}' not available for moonraker`);
        }
        const unit = service === 'klipper_mcu' ? 'klipper-mcu' : service;
        const result = await services.handle(action, unit, 0);
        if (result.exitCode === 5) throw new HttpError(400, `Service '${service}' not installed`);
        return 'ok';
      }
      default:
        throw new HttpError(404, 'Not Found');
    }
  }

  private async forward(
    klippy: RealKlippy,
    method: string,
    params: Record<string, unknown>,
  ): Promise<unknown> {
    this.requireKlippy();
    try {
      return await klippy.request(method, params);
    } catch (error) {
      throw new HttpError(error instanceof KlippyApiError ? error.status : 500, (error as Error).message);
    }
  }

  private requireKlippy(): void {
    if (!this.deps.klippy.running) throw new HttpError(503, 'Klippy Host not connected');
  }

  private mcuObjects(): string[] {
    return [...this.deps.klippy.mcuStatus.keys()].map((name) => (name === 'mcu' ? 'mcu' : `mcu ${name}`));
  }

  private printerObject(name: string): Record<string, unknown> {
    const { klippy, print } = this.deps;
    switch (name) {
      case 'webhooks':
        return { state: klippy.state, state_message: klippy.stateMessage };
      case 'print_stats':
        return print.printStats();
      case 'idle_timeout':
        return print.idleTimeout();
      default: {
        if (name === 'mcu' || name.startsWith('mcu ')) {
          const status = klippy.mcuStatus.get(name === 'mcu' ? 'mcu' : name.slice(4));
          return status ? { ...status, last_stats: {} } : {};
        }
        return {};
      }
    }
  }
}

async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  if (!(req.headers['content-type'] ?? '').includes('application/json')) {
    req.resume();
    return {};
  }
  let text = '';
  for await (const chunk of req) text += String(chunk);
  if (!text) return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    throw new HttpError(400, 'Error parsing JSON body');
  }
}

function send(res: ServerResponse, code: number, payload: unknown): void {
  const body = JSON.stringify(payload);
  res.writeHead(code, {
    'Content-Type': 'application/json; charset=UTF-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}
