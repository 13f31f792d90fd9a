/** Where the shipped provider files live: `providers/` at the top of the package. */
import * as fs from 'node:fs';
import * as path from 'node:path';

export function shippedProvidersDir(): string {
  // dist/omnicloud.js when bundled, src/omnicloud/bridge/paths.ts under ts-jest.
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'providers');
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return path.join(__dirname, '..', 'providers');
}
