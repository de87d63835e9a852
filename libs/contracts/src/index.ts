export * from './queues';
export * from './printer-update';
