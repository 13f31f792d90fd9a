/** The pino side of the logger facade; built as its own chunk and loaded on first use. */
import pino from 'pino';
import type { LogSink } from './logger';

export function createPinoSink(): LogSink {
  // Synchronous writes to fd 2: the process exits right after the response, and a line still
  // queued in an async buffer would be lost. Every level: the facade has filtered already.
  const p = pino(
    { level: 'trace', base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ fd: 2, sync: true }),
  );
  return {
    write(lvl, msg, fields) {
      p[lvl](fields, msg);
    },
  };
}
