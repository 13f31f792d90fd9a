/**
 * The smaller truths of issue 10: a BOM is tolerated, duplicate params and base URLs with a query
 * are refused, prerelease versions compare as semver says, the validation cache follows the
 * binary, and agent ids and VM names stay readable while the agent settings' secrets are hidden.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadProviderFile } from '../../src/omnicloud/provider/load';
import { applyJsonRule } from '../../src/omnicloud/parse/json';
import { Preflight } from '../../src/omnicloud/preflight';
import { Secrets } from '../../src/omnicloud/secrets';
import { compileEndpoint, renderEndpoint } from '../../src/omnicloud/template/endpoint';
import { engine, failure, fakeBin, provider, tmpDir } from './helpers';

const dir = tmpDir('omni-truths-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('smaller truths', () => {
  it('a provider file with a UTF-8 BOM loads; duplicate params are an error', () => {
    const f = path.join(dir, 'bom.json');
    fs.writeFileSync(f, '\uFEFF' + JSON.stringify({ name: 'bom', type: 'command', actions: { a: { command: 'true' } } }));
    expect(loadProviderFile(f).name).toBe('bom');
    expect(() => provider({ name: 'd', type: 'command', actions: { a: { command: 'echo {x}', params: ['x', 'x'] } } })).toThrow("actions.a.params: 'x' listed twice");
  });

  it('a base URL with a query or a fragment is refused', () => {
    const ep = compileEndpoint({ url: '{api_url}/instances', method: 'GET' });
    const scope = (api_url: string) => ({ params: { api_url }, steps: {} });
    expect(renderEndpoint(ep, scope('https://api.example.com/v1'), 't').url.pathname).toBe('/v1/instances');
    for (const bad of ['https://evil.example/?x=', 'https://api.example.com/v1#', 'https://api.example.com/v1?token=1']) {
      expect(() => renderEndpoint(ep, scope(bad), 't')).toThrow(/without a query or fragment/);
    }
  });

  it('prerelease versions compare as semver says, and the validation cache follows the binary', async () => {
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    fakeBin(bin, 'tool', 'echo "tool version 2.0.0-rc1"');
    const p = provider({ name: 'v', type: 'command', validation: { version_requirements: { tool: '>=2.0.0' } }, actions: { a: { command: 'true' } } });
    const env = { PATH: `${bin}:/usr/bin:/bin` };
    const cache = { dir: path.join(dir, 'cache'), seconds: 3600 };
    const err = await failure(new Preflight(engine([p], { processEnv: env }), cache).validate(p));
    expect(err.message).toMatch(/'tool' 2\.0\.0-rc1 does not satisfy >=2\.0\.0/);
    fakeBin(bin, 'tool', 'echo "tool version 2.0.0"');
    await new Preflight(engine([p], { processEnv: env }), cache).validate(p);
    // Passed and cached; a downgraded binary (another size) is checked again, not trusted.
    fakeBin(bin, 'tool', 'echo "tool version 1.9.9  "');
    expect((await failure(new Preflight(engine([p], { processEnv: env }), cache).validate(p))).message).toMatch(/1\.9\.9 does not satisfy/);
  });

  it('agent ids and VM names are not redacted as if secret; the agent settings\' real secrets are', () => {
    const settings = {
      agent_id: 'agent-visible-1',
      vm: { name: 'vm-visible-2' },
      mbus: 'https://mbus:mbus-pass-xyz@0.0.0.0:6868',
      env: { bosh: { password: 'vm-password-hash', mbus: { cert: { private_key: 'PEMKEY-abc', certificate: 'PEMCERT-def' } } } },
    };
    const s = Secrets.fromParams({ agent_settings: settings, agent_settings_json: JSON.stringify(settings) }, new Set());
    const text = s.scrub(`agent-visible-1 vm-visible-2 mbus-pass-xyz vm-password-hash PEMKEY-abc PEMCERT-def`);
    expect(text).toBe('agent-visible-1 vm-visible-2 <redacted> <redacted> <redacted> <redacted>');
  });

  it('the json rule keeps integers beyond 2^53 exact (as strings), small ones as numbers', () => {
    expect(applyJsonRule({ type: 'json', lines: false }, '{"id": 12345678901234567890, "n": 42, "f": 1.5, "s": "99999999999999999999"}')).toEqual({ id: '12345678901234567890', n: 42, f: 1.5, s: '99999999999999999999' });
    expect(() => applyJsonRule({ type: 'json', lines: false }, '{"id": 12345678901234567890,\n  }')).toThrow(/line 2 column 3/);
  });
});
