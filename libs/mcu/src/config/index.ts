export * from './printer-config';
export * from './mcu-sections';
export * from './glob';
