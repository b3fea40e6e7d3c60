// Public surface of the block frontend (layer 3).
export * from './blkfront.ts';
export * from './errors.ts';
