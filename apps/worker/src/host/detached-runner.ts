import { DETACHED_RUN_ID } from '@lockstep/mcu';
import type { PrinterHost } from './printer-host';
import { shellQuote } from './shell-quote';

export interface DetachedRun {
  id: string;
  code: number | null;
  output: string;
  timedOut: boolean;
}

/**
 * Long-running tools (flashes) started detached from the SSH connection, under a deadline: a
 * flash must finish even if the worker or the network dies. Output and exit code land in
 * ~/.lockstep/run/<id>.{log,rc}; a resumed job waits for a run it finds there.
 */
export class DetachedRunner {
  constructor(private readonly host: PrinterHost) {}

  private base(id: string): string {
    if (!DETACHED_RUN_ID.test(id)) throw new Error(`run id ${JSON.stringify(id)} cannot name a file`);
    return `${this.host.lockstepDir}/run/${id}`;
  }

  async start(id: string, command: string, timeoutSeconds: number): Promise<void> {
    const base = this.base(id);
    const [log, rc, pid] = [`${base}.log`, `${base}.rc`, `${base}.pid`].map(shellQuote);
    const inner = `timeout -k 5 ${Math.ceil(timeoutSeconds)} sh -c ${shellQuote(command)} > ${log} 2>&1; echo $? > ${rc}.tmp; mv ${rc}.tmp ${rc}`;
    await this.host.check(
      'flash',
      `starting ${id}`,
      `mkdir -p ${shellQuote(`${this.host.lockstepDir}/run`)} && rm -f ${rc} ${log} && (setsid nohup sh -c ${shellQuote(inner)} >/dev/null 2>&1 </dev/null & echo $! > ${pid})`,
    );
  }

  /** Whether a run exists, finished or not. */
  async state(id: string): Promise<'running' | 'finished' | 'none'> {
    const base = this.base(id);
    const [rc, pid] = [`${base}.rc`, `${base}.pid`].map(shellQuote);
    const result = await this.host.run(
      `if [ -e ${rc} ]; then echo finished; elif [ -e ${pid} ] && kill -0 "$(cat ${pid})" 2>/dev/null; then echo running; else echo none; fi`,
    );
    const state = result.stdout.trim();
    return state === 'finished' || state === 'running' ? state : 'none';
  }

  /** Waits for a run to finish and returns its exit code and output. */
  async wait(id: string, timeoutSeconds: number): Promise<DetachedRun> {
    const base = this.base(id);
    const [log, rc, pid] = [`${base}.log`, `${base}.rc`, `${base}.pid`].map(shellQuote);
    const result = await this.host.run(
      `while [ ! -e ${rc} ]; do if ! kill -0 "$(cat ${pid} 2>/dev/null)" 2>/dev/null && [ ! -e ${rc} ]; then echo 'run vanished' >&2; exit 3; fi; sleep 0.2; done; cat ${rc}; echo ---; cat ${log}`,
      { timeoutSeconds },
    );
    if (result.code === 3)
      return { id, code: null, output: 'the tool was killed before it finished', timedOut: false };
    if (result.code !== 0) return { id, code: null, output: result.stderr, timedOut: result.timedOut };
    const [code, ...rest] = result.stdout.split('\n---\n');
    const exit = Number(code!.trim());
    return { id, code: exit, output: rest.join('\n---\n'), timedOut: exit === 124 || exit === 137 };
  }
}
