import type { Finish, UpdateRun } from '../update-run';

/** One step of the update, as an operator's procedure names it; it may end the job early. */
export interface Step {
  readonly name: string;
  run(run: UpdateRun): Promise<Finish | void>;
}
