/** Injection tokens for what the API is given at start rather than builds itself. */
export const REDIS = Symbol('redis');
export const API_CONFIG = Symbol('api-config');
export const KLIPPER_ORIGIN = Symbol('klipper-origin');
export const UPDATE_QUEUE = Symbol('update-queue');
export const BUILD_QUEUE = Symbol('build-queue');
