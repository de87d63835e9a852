import { Farm, HostShell, type FarmStatus } from '@lockstep/farm';

const PRINTERS = 3;

function table(status: FarmStatus): string {
  const lines: string[] = [];
  for (const host of status.hosts) {
    const s = host.snapshot;
    lines.push(
      `${host.name}  ${host.address.padEnd(14)} ssh ${host.sshReachable ? 'ok' : 'DOWN'}  Klipper ${s?.hostVersion ?? '?'}  klippy ${s?.klippy.state ?? host.error}`,
    );
    for (const mcu of s?.mcus ?? []) {
      const where = mcu.device ?? (mcu.canbusUuid ? `canbus_uuid ${mcu.canbusUuid}` : '');
      lines.push(
        `    ${mcu.name.padEnd(7)} ${mcu.kind.padEnd(10)} ${(mcu.version ?? '-').padEnd(22)} ${where}`,
      );
    }
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  console.log(`Starting a simulated print farm of ${PRINTERS} printers (profile "mixed")...`);
  const started = Date.now();
  const farm = await Farm.up({ printers: PRINTERS, profile: 'mixed' });
  const stop = (): void => {
    void farm.down().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    console.log(`Farm ${farm.id} up in ${((Date.now() - started) / 1000).toFixed(1)} s.\n`);
    console.log(table(await farm.status()));

    const host = farm.hosts[0]!;
    console.log(`\nThe version gate on ${host.name}: the host moves to v0.13.0, its MCUs still run v0.12.0.`);
    const shell = await HostShell.connect(host);
    try {
      await shell.check('cd ~/klipper && git fetch -q && git checkout -q v0.13.0');
      await shell.check('sudo systemctl restart klipper');
      let state = 'startup';
      let message = '';
      for (let i = 0; i < 100 && state === 'startup'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const { body } = await host.moonraker<{ result: { state: string; state_message: string } }>(
          '/printer/info',
        );
        state = body.result.state;
        message = body.result.state_message;
      }
      console.log(`Moonraker /printer/info: state "${state}"\n`);
      console.log(
        message
          .split('\n')
          .map((line) => `    ${line}`)
          .join('\n'),
      );
    } finally {
      shell.dispose();
    }
  } finally {
    await farm.down();
    console.log(`Farm ${farm.id} removed.`);
  }
}

main().catch((error: unknown) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
