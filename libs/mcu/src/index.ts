export * from './protocol';
export * from './config';
export * from './mcu-kind';
export * from './domain';
