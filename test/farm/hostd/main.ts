import { readFileSync } from 'node:fs';
import type { SimHostSpec } from '../spec';
import { SimHost } from './sim-host';

async function main(): Promise<void> {
  const specPath = process.argv[2];
  if (!specPath) throw new Error('usage: hostd <host.json>');
  const spec = JSON.parse(readFileSync(specPath, 'utf8')) as SimHostSpec;
  const host = new SimHost(spec);
  const stop = (): void => {
    void host.stop().finally(() => process.exit(0));
  };
  // One failed request must not take the whole host down.
  process.on('unhandledRejection', (error) => console.error('hostd: unhandled rejection:', error));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await host.start();
}

main().catch((error: unknown) => {
  console.error('hostd failed:', error);
  process.exit(1);
});
