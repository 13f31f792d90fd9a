/**
 * What the bundle gives proper-lockfile for `graceful-fs` (scripts/build.mjs): node's own fs.
 * graceful-fs queues and retries opens on EMFILE, a limit one CPI call with a handful of files
 * never reaches, and patching fs at load costs ~10 ms of every call that takes a lock.
 */
export = require('node:fs');
