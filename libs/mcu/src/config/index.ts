export * from './printer-config';
export * from './mcu-sections';
