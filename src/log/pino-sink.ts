/** The pino side of the logger facade; built as its own chunk and loaded on first use. */
import pino from 'pino';
import type { LevelName, LogSink } from './logger';

export function createPinoSink(level: LevelName): LogSink {
  // Synchronous writes to fd 2: the process exits right after the response, and a line still
  // queued in an async buffer would be lost.
  const p = pino(
    { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ fd: 2, sync: true }),
  );
  return {
    write(lvl, msg, fields) {
      p[lvl](fields, msg);
    },
  };
}
