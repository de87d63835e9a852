export * from './queues';
export * from './printer-update';
export * from './firmware-build';
