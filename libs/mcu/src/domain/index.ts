export { FieldError } from './field-error';
export * from './kconfig';
export * from './klipper-version';
export * from './git-ref';
export * from './flash-method';
export * from './mcu-inventory';
export * from './update-plan';
