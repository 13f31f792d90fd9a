/**
 * The CPI's logger: a small facade over pino.
 *
 * pino costs several milliseconds to load and `info` must stay close to a bare node start, so
 * the pino chunk is loaded on the first line that passes the level threshold. Every line is
 * redacted first; warnings and errors are also kept for the response's `log` field, which the
 * Director stores in the task's CPI log.
 */
import { redact, redactString } from './redact';
import { loadChunk } from '../runtime/chunks';

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;
export type LevelName = keyof typeof LEVELS;
export const LEVEL_NAMES = Object.keys(LEVELS) as [LevelName, ...LevelName[]];

export interface Logger {
  trace(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(bindings: Record<string, unknown>): Logger;
  isLevelEnabled(level: LevelName): boolean;
}

/** Where enabled lines go once formatted; the pino chunk implements it. The facade has filtered by level already. */
export interface LogSink {
  write(level: Exclude<LevelName, 'silent'>, msg: string, fields: Record<string, unknown>): void;
}

/** Shared state of one process: the level, the sink and the lines gathered for `log`. */
class LogState {
  level: number = LEVELS.info;
  readonly gathered: string[] = [];
  private sink: LogSink | undefined;
  sinkFactory: () => LogSink = () => loadChunk('pino').createPinoSink();

  getSink(): LogSink {
    if (!this.sink) this.sink = this.sinkFactory();
    return this.sink;
  }
}

class FacadeLogger implements Logger {
  constructor(
    private readonly state: LogState,
    private readonly bindings: Record<string, unknown>,
  ) {}

  private emit(level: Exclude<LevelName, 'silent'>, msg: string, fields?: Record<string, unknown>): void {
    const n = LEVELS[level];
    // Below the threshold and not gathered for `log`: skip the redaction work entirely.
    if (n < this.state.level && n < LEVELS.warn) return;
    const safeMsg = redactString(msg);
    const safeFields = fields ? (redact(fields) as Record<string, unknown>) : undefined;
    if (n >= LEVELS.warn) this.state.gathered.push(formatGathered(level, safeMsg, safeFields));
    if (n < this.state.level) return;
    this.state.getSink().write(level, safeMsg, { ...this.bindings, ...safeFields });
  }

  trace(msg: string, fields?: Record<string, unknown>): void {
    this.emit('trace', msg, fields);
  }
  debug(msg: string, fields?: Record<string, unknown>): void {
    this.emit('debug', msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.emit('info', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.emit('warn', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.emit('error', msg, fields);
  }
  child(bindings: Record<string, unknown>): Logger {
    return new FacadeLogger(this.state, { ...this.bindings, ...(redact(bindings) as Record<string, unknown>) });
  }
  isLevelEnabled(level: LevelName): boolean {
    return LEVELS[level] >= this.state.level;
  }
}

function formatGathered(level: string, msg: string, fields?: Record<string, unknown>): string {
  const extra = fields && Object.keys(fields).length > 0 ? ' ' + JSON.stringify(fields) : '';
  return `${new Date().toISOString()} ${level.toUpperCase()} ${msg}${extra}`;
}

export interface LogSession {
  logger: Logger;
  setLevel(level: LevelName): void;
  /** The text for the response's `log` field. */
  gatheredText(): string;
  /** Replace the sink (tests, or the omni CLI which logs differently). */
  useSink(factory: () => LogSink): void;
}

export function createLogSession(bindings: Record<string, unknown> = {}): LogSession {
  const state = new LogState();
  return {
    logger: new FacadeLogger(state, bindings),
    setLevel(level) {
      state.level = LEVELS[level];
    },
    gatheredText: () => (state.gathered.length ? state.gathered.join('\n') + '\n' : ''),
    useSink(factory) {
      state.sinkFactory = factory;
    },
  };
}

export function isLevelName(s: string): s is LevelName {
  return Object.prototype.hasOwnProperty.call(LEVELS, s);
}
