import { createHash } from 'node:crypto';
import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import {
  InvalidBuildJobError,
  parseFirmwareBuildJob,
  type FirmwareBuildJob,
  type FirmwareBuildResult,
} from '@lockstep/contracts';
import { assertSafeVersion, BUILD_DICT_MARK } from '@lockstep/mcu';
import type { ArtifactStore } from '../artifacts/artifact-store';
import type { Clock } from '../host/clock';
import { makeFirmware } from '../host/firmware-builder';
import { shellCommand } from '../host/shell-quote';
import { GitRepository } from '../host/git-repository';
import { PrinterHost } from '../host/printer-host';
import { lastLines, RemoteCommandError } from '../host/remote-command-error';
import { HostKeyMismatchError, SshSession } from '../host/ssh-session';

type BuildRequest = FirmwareBuildJob['builds'][number];
type BuildRecord = FirmwareBuildResult['builds'][number];

const LOG_TAIL_LINES = 20;

/**
 * Runs a firmware-build job: on one build host, each distinct (commit, Kconfig) is built once in a
 * worktree at its commit, its artifacts are read back over SFTP, checked against the SHA-256 the
 * build printed, and kept in the worker's artifact store with a build.json that records them. A
 * failed build is reported with make's last lines; the others go on.
 */
export class FirmwareBuildProcessor {
  constructor(
    private readonly privateKey: string,
    private readonly artifacts: ArtifactStore | null,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  async process(job: Job): Promise<FirmwareBuildResult> {
    let data: FirmwareBuildJob;
    try {
      data = parseFirmwareBuildJob(job.data);
    } catch (error) {
      if (error instanceof InvalidBuildJobError) throw new UnrecoverableError(error.message);
      throw error;
    }
    const store = this.artifacts;
    if (store === null) {
      throw new UnrecoverableError(
        'this worker has no artifact store (LOCKSTEP_ARTIFACT_STORE): a firmware build keeps its artifacts there',
      );
    }
    const started = this.clock.now();
    const log = this.log.child({ jobId: job.id, buildId: data.buildId });
    let ssh: SshSession;
    try {
      ssh = await SshSession.connect(data.host, this.privateKey);
    } catch (error) {
      if (error instanceof HostKeyMismatchError) throw new UnrecoverableError(error.message);
      throw error;
    }
    try {
      const host = await PrinterHost.open(ssh, {
        ...data.deadlines,
        flashSeconds: data.deadlines.commandSeconds,
      });
      const git = new GitRepository(host, host.path(data.paths.klipper));
      await git.fetch('build');
      const machine = data.builds.some((b) => b.linux) ? await host.machine('build') : undefined;
      const records: BuildRecord[] = [];
      const commits = [...new Set(data.builds.map((b) => b.commit))];
      for (const commit of commits) {
        const builds = data.builds.filter((b) => b.commit === commit);
        let version: string;
        try {
          version = await git.describeCommit('build', commit);
        } catch (error) {
          if (!(error instanceof RemoteCommandError)) throw error;
          for (const build of builds)
            records.push(
              failed(build, `${commit} is not in ${data.paths.klipper} after git fetch`, error.output),
            );
          continue;
        }
        // What git printed names a folder: it must look like a version.
        assertSafeVersion(version, 'git describe');
        const worktree = `${host.lockstepDir}/worktrees/${commit}`;
        // The build host's own ~/.lockstep/firmware (it may be a printer too) stays untouched:
        // builds go to a folder of their own, removed once the store has them.
        const outDir = `${host.lockstepDir}/builds/${version}`;
        await git.addWorktree('build', worktree, commit);
        try {
          for (const build of builds) {
            await job.updateProgress({
              step: 'build',
              commit,
              kconfigHash: build.kconfigHash,
              done: records.length,
              of: data.builds.length,
            });
            records.push(
              await this.buildOne(host, store, {
                worktree,
                out: `${outDir}/${build.kconfigHash}`,
                version,
                build,
                machine,
                seconds: data.deadlines.buildSeconds,
              }),
            );
            log.info(
              { commit, kconfigHash: build.kconfigHash, outcome: records.at(-1)!.outcome },
              'firmware build finished',
            );
          }
        } finally {
          await git.removeWorktree(worktree);
          await host.run(shellCommand(['rm', '-rf', '--', outDir]));
        }
      }
      return { buildId: data.buildId, builds: records, timings: { totalMs: this.clock.now() - started } };
    } finally {
      ssh.dispose();
    }
  }

  private async buildOne(
    host: PrinterHost,
    store: ArtifactStore,
    input: {
      worktree: string;
      out: string;
      version: string;
      build: BuildRequest;
      machine: string | undefined;
      seconds: number;
    },
  ): Promise<BuildRecord> {
    const { build, version, out } = input;
    const { result, built } = await makeFirmware(host, {
      worktree: input.worktree,
      out,
      kconfig: build.kconfig,
      timeoutSeconds: input.seconds,
    });
    // make's own output: what comes before the dictionary and sums the build prints after it.
    const makeOutput = result.stdout.split(`${BUILD_DICT_MARK}\n`)[0]!;
    const logTail = lastLines(`${makeOutput}\n${result.stderr}`, LOG_TAIL_LINES);
    if (result.code !== 0) {
      const why = result.timedOut
        ? `make did not finish within ${input.seconds} s`
        : `make exited with ${result.code}`;
      return failed(build, why, logTail);
    }
    if (built.version !== version) {
      return failed(
        build,
        `the firmware reports ${built.version ?? 'no version'}, the commit describes as ${version}: a dirty tree or a mixed toolchain on the build host`,
        logTail,
      );
    }
    const files: BuildRecord['files'] = {};
    for (const [file, sha256] of Object.entries(built.files)) {
      const data = await host.downloadFile('build', `${out}/${file}`);
      const actual = createHash('sha256').update(data).digest('hex');
      if (actual !== sha256)
        return failed(
          build,
          `${file} read back with SHA-256 ${actual}, the build host said ${sha256}`,
          logTail,
        );
      await store.write(version, build.kconfigHash, file, data);
      files[file] = { sha256, size: data.length };
    }
    const record: BuildRecord = {
      ...(build.name ? { name: build.name } : {}),
      commit: build.commit,
      kconfigHash: build.kconfigHash,
      outcome: 'built',
      version,
      ...(build.linux && input.machine ? { machine: input.machine } : {}),
      files,
      logTail,
    };
    await store.write(version, build.kconfigHash, 'build.json', Buffer.from(JSON.stringify(record, null, 2)));
    return record;
  }
}

function failed(build: BuildRequest, error: string, logTail: string[]): BuildRecord {
  return {
    ...(build.name ? { name: build.name } : {}),
    commit: build.commit,
    kconfigHash: build.kconfigHash,
    outcome: 'failed',
    version: null,
    files: {},
    logTail,
    error,
  };
}
