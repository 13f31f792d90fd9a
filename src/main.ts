/**
 * bin/cpi: one request on STDIN, one response on STDOUT, logs on STDERR, exit 0 in every
 * handled case (the bosh CLI discards the response of a non-zero exit).
 */
import type * as ConfigLoad from './config/load';
import type { CallContext } from './cpi/backend';
import { createLogSession, isLevelName, type LogSession } from './log/logger';
import { redactRequest } from './log/redact';
import { backendLoader } from './rpc/backends';
import { dispatch, lookupMethod } from './rpc/dispatch';
import { parseRequest, type Request } from './rpc/envelope';
import { isBoshError } from './rpc/errors';
import { errorResponse, serialize, successResponse, type Response } from './rpc/response';
import { readRequestText } from './rpc/stdin';
import { claimStdout } from './rpc/stdout';
import { loadChunk } from './runtime/chunks';

type Env = Readonly<Record<string, string | undefined>>;

async function handle(argv: readonly string[], env: Env, logs: LogSession): Promise<Response> {
  const log = logs.logger;
  let req: Request | undefined;
  try {
    req = parseRequest(await readRequestText());
    const entry = lookupMethod(req.method);
    // info and ping need neither configuration nor backend: the bosh CLI calls info before every
    // method, so it must cost little more than starting node.
    if (!entry.usesBackend) return successResponse(await entry.run(req.arguments, undefined, undefined), logs.gatheredText());

    // Required here, not imported: building the config schema is wasted time for info.
    const { configPathFromArgv, loadConfig } = require('./config/load') as typeof ConfigLoad;
    const { config, ignoredContextKeys } = loadConfig({ file: configPathFromArgv(argv), env, context: req.context });
    logs.setLevel(config.log_level);
    if (ignoredContextKeys.length) log.warn('ignored context keys that are not CPI configuration', { keys: ignoredContextKeys });
    const call: CallContext = {
      config,
      log: req.requestId ? log.child({ request_id: req.requestId }) : log,
      apiVersion: req.apiVersion,
      stemcellApiVersion: req.stemcellApiVersion,
      requestId: req.requestId,
      directorUuid: req.directorUuid,
    };
    if (log.isLevelEnabled('debug')) call.log.debug('request', { request: redactRequest(req) });
    const started = Date.now();
    const result = await dispatch(req, call, backendLoader(call));
    const response = successResponse(result, logs.gatheredText());
    if (log.isLevelEnabled('debug')) call.log.debug('response', { method: req.method, ms: Date.now() - started, result });
    return response;
  } catch (e) {
    const method = req?.method;
    if (isBoshError(e)) log.error(`${method ?? 'request'} failed: ${e.message}`, { type: e.boshType });
    else {
      log.error(`${method ?? 'request'} failed unexpectedly: ${e instanceof Error ? e.message : String(e)}`);
      if (e instanceof Error && e.stack) log.debug('stack', { stack: e.stack });
    }
    return errorResponse(e, logs.gatheredText());
  }
}

export async function main(argv: readonly string[], env: Env): Promise<void> {
  // `bin/cpi omni …`: the OmniCloud debugging CLI, for humans; it owns STDOUT and its exit status.
  if (argv[0] === 'omni') {
    process.exitCode = await loadChunk('omnicloud').runOmniCli(argv.slice(1), env);
    return;
  }
  const writeResponse = claimStdout();
  const logs = createLogSession();
  const envLevel = env['BOSH_CPI_LOG_LEVEL']?.toLowerCase();
  if (envLevel && isLevelName(envLevel)) logs.setLevel(envLevel);

  let done = false;
  const finish = (r: Response) => {
    if (done) return;
    done = true;
    writeResponse(serialize(r));
    process.exit(0);
  };
  // Last resort: a throw from a callback outside the request's promise chain.
  process.on('uncaughtException', (e) => finish(errorResponse(e, logs.gatheredText())));
  process.on('unhandledRejection', (e) => finish(errorResponse(e, logs.gatheredText())));

  finish(await handle(argv, env, logs));
}
