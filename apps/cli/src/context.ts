import { ApiClient } from './api-client';
import { loadConnection } from './config';
import { type Output } from './output';
import { progressFor, type Progress } from './progress';

/** What every command works with: the API, where its output goes, the environment. */
export class Context {
  private apiClient: ApiClient | null = null;

  constructor(
    readonly out: Output,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  /** The API client, connected on first use (so `--help` and `login` need no configuration). */
  get api(): ApiClient {
    this.apiClient ??= new ApiClient(loadConnection(this.env));
    return this.apiClient;
  }

  /** Live progress: bars on a terminal; plain lines in a log; on stderr with `--json`. */
  progress(): Progress {
    const stream = this.out.json ? process.stderr : process.stdout;
    return progressFor(stream, (text) => this.out.note(text));
  }
}
