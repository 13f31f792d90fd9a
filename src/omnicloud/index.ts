/**
 * The OmniCloud JSON-CPI engine chunk (dist/omnicloud.js): loaded only for `backend: omnicloud`
 * and for `bin/cpi omni …`, never for `info` or other backends.
 */
export { createBackend } from './bridge/backend';
export { runOmniCli } from './cli';
