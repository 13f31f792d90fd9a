/** tar-stream, as a chunk of its own: only stemcell import and archive-API settings delivery need it. */
export { extract, pack } from 'tar-stream';
export type { Extract, Pack } from 'tar-stream';
