export * from './queues';
export * from './printer-update';
export * from './firmware-build';
export * from './fleet';
export { describeIssues } from './fields';
export * from './rollouts';
export * from './events';
export * from './builds';
export * from './host-jobs';
