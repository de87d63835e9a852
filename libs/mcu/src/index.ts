export * from './protocol';
export * from './config';
export * from './mcu-kind';
