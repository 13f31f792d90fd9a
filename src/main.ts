/**
 * bin/cpi: one request on STDIN, one response on STDOUT, logs on STDERR, exit 0 in every
 * handled case (the bosh CLI discards the response of a non-zero exit).
 */
import { LOG_LEVEL_ENV } from './config/env';
import type * as ConfigLoad from './config/load';
import type { CallContext } from './cpi/backend';
import { createLogSession, isLevelName, type LogSession } from './log/logger';
import { redactRequest } from './log/redact';
import { lookupMethod } from './rpc/dispatch';
import { parseRequest, type Request } from './rpc/envelope';
import { isBoshError } from './rpc/errors';
import { errorResponse, serialize, successResponse, type Response } from './rpc/response';
import { readRequestText } from './rpc/stdin';
import { claimStdout } from './rpc/stdout';
import { loadChunk } from './runtime/chunks';

type Env = Readonly<Record<string, string | undefined>>;

async function handle(input: () => Promise<string>, argv: readonly string[], env: Env, logs: LogSession): Promise<Response> {
  const log = logs.logger;
  let req: Request | undefined;
  try {
    req = parseRequest(await input());
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
    // The backend's chunk is loaded only once the method has checked its arguments.
    const result = await entry.run(req.arguments, call, () => loadChunk(config.backend).createBackend(call));
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
  const envLevel = env[LOG_LEVEL_ENV]?.toLowerCase();
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

  if (env['BOSH_CPI_TRAINING'] === '1') {
    await train(env);
    process.exit(0);
  }
  finish(await handle(() => readRequestText(), argv, env, logs));
}

/**
 * Code-cache training (see boot.ts): typical requests in one process, against an engine that is
 * not there, so their code is compiled once and cached for every later call.
 */
async function train(env: Env): Promise<void> {
  // The real sink: the error lines of these requests warm pino's code too (build.mjs and the
  // release's packaging discard the training run's STDERR).
  const logs = createLogSession();
  const trainingEnv = { ...env, DOCKER_HOST: 'unix:///nonexistent/docker.sock' };
  const C = { director_uuid: 'training', request_id: 'cpi-000000', vm: { stemcell: { api_version: 2 } } };
  const net = { default: { type: 'manual', ip: '10.0.0.2', netmask: '255.255.255.0', gateway: '10.0.0.1', dns: ['10.0.0.1'], default: ['dns', 'gateway'], cloud_properties: {} } };
  // The OmniCloud backend, chosen by a cpi-config context: its HTTP provider against a socket that
  // is not there (no process is started), so dist/omnicloud.js is cached too.
  const omni = { ...C, backend: 'omnicloud', omnicloud: { provider: 'docker-api', validate: false, settings: { docker_socket: '/nonexistent/docker.sock' } } };
  const requests: Array<[string, unknown[], object?]> = [
    ['info', []],
    ['has_vm', ['c-00000000-0000-4000-8000-000000000000']],
    ['delete_vm', ['c-00000000-0000-4000-8000-000000000000']],
    ['create_vm', ['agent', 'bosh.io/stemcells:img-x', { cpus: 1, memory: 256, ports: ['127.0.0.1:6868:6868/tcp'] }, net, [], { bosh: { tags: { a: 'b' } } }]],
    ['set_vm_metadata', ['c-1', { deployment: 'd', job: 'j', index: '0' }]],
    ['reboot_vm', ['c-1']],
    ['create_stemcell', ['/nonexistent/image', { name: 'x', version: '1' }]],
    ['delete_stemcell', ['bosh.io/stemcells:img-x']],
    ['calculate_vm_cloud_properties', [{ cpu: 1, ram: 1024, ephemeral_disk_size: 1024 }]],
    ['create_disk', [1024, {}, 'c-1']],
    ['has_disk', ['vol-1']],
    ['attach_disk', ['c-1', 'vol-1']],
    ['detach_disk', ['c-1', 'vol-1']],
    ['delete_disk', ['vol-1']],
    ['get_disks', ['c-1']],
    ['nonexistent_method', []],
    ['has_vm', ['c-1'], omni],
    ['create_disk', [1024, {}, null], omni],
    ['delete_disk', ['vol-1'], omni],
  ];
  for (const [method, args, context = C] of requests) {
    const text = JSON.stringify({ method, arguments: args, context, api_version: 2 });
    await handle(async () => text, [], trainingEnv, logs);
  }
  await handle(async () => '{"method":', [], trainingEnv, logs);
}
