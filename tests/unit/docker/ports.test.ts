import { parsePorts, portConfig } from '../../../src/docker/vm/ports';

describe('ports cloud property', () => {
  it('accepts the Go CPI form: exposed and published at random', () => {
    expect(parsePorts(['6868/tcp', 22, '53/udp'])).toEqual([
      { container: 6868, protocol: 'tcp' },
      { container: 22, protocol: 'tcp' },
      { container: 53, protocol: 'udp' },
    ]);
    expect(portConfig(parsePorts(['6868/tcp']))).toEqual({ ExposedPorts: { '6868/tcp': {} }, PortBindings: {}, PublishAllPorts: true });
  });

  it('publishes on a given host address and port', () => {
    const c = portConfig(parsePorts(['127.0.0.1:6868:6868/tcp', '25555:25555', '127.0.0.1::8443', '[::1]:2222:22']));
    expect(c.PublishAllPorts).toBe(false);
    expect(c.PortBindings).toEqual({
      '6868/tcp': [{ HostIp: '127.0.0.1', HostPort: '6868' }],
      '25555/tcp': [{ HostIp: '', HostPort: '25555' }],
      '8443/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }],
      '22/tcp': [{ HostIp: '::1', HostPort: '2222' }],
    });
  });

  it('accepts ranges of equal length and the warden object form', () => {
    expect(parsePorts(['2000-2001:1000-1001/udp'])).toEqual([
      { container: 1000, protocol: 'udp', binding: { hostIp: '', hostPort: 2000 } },
      { container: 1001, protocol: 'udp', binding: { hostIp: '', hostPort: 2001 } },
    ]);
    expect(parsePorts([{ host: 8080, container: 80 }, { host: '3000-3001', protocol: 'udp', host_ip: '127.0.0.1' }])).toEqual([
      { container: 80, protocol: 'tcp', binding: { hostIp: '', hostPort: 8080 } },
      { container: 3000, protocol: 'udp', binding: { hostIp: '127.0.0.1', hostPort: 3000 } },
      { container: 3001, protocol: 'udp', binding: { hostIp: '127.0.0.1', hostPort: 3001 } },
    ]);
  });

  it.each([
    ['70000', 'outside 1-65535'],
    ['80/icmp', "protocol 'icmp'"],
    ['1000-1002:80', 'differ in length'],
    ['abc', 'is not a port'],
    ['3-1', 'reversed'],
  ])('refuses %s', (spec, msg) => {
    expect(() => parsePorts([spec])).toThrow(msg);
  });
});
