// ngmm's public entry point.
export * from '../engine/index';
