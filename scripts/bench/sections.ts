/** The benchmark's sections; later issues add the Docker backend's. */
import { cpi, nodeBare } from './process';
import type { Section } from './types';
import { diskSection, methodsSection, vmSection } from './docker';
import { hostsSection } from './hosts';
import { omnicloudSection } from './omnicloud';

const startup: Section = {
  key: 'startup',
  title: 'process start-up',
  cases: [
    { name: 'node -e 0', run: nodeBare },
    {
      name: 'info',
      cpi: true,
      floor: 'node -e 0',
      run: () => void cpi({ method: 'info', arguments: [], context: {} }),
      target: (ms, m) => ({ text: '≤ 1.2× node', met: ms <= 1.2 * (m.get('node -e 0') ?? 0) }),
    },
    { name: 'invalid request', cpi: true, floor: 'node -e 0', run: () => void cpi('{"method":', [], true) },
  ],
};

export const sections: Section[] = [startup, vmSection, diskSection, methodsSection, omnicloudSection, hostsSection];
