/** Stand-ins shared by the manifest tests: a bosh.yml skeleton and the variables a vars store would give. */
type Obj = Record<string, unknown>;

/** Stand-ins for the variables a vars store or -v would give. */
export const VARS: Obj = {
  cpi_release_tarball: '/tmp/bosh-container-cpi.tgz',
  docker_host: 'tcp://192.0.2.10:4243',
  docker_tls: {
    ca: '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n',
    certificate: '-----BEGIN CERTIFICATE-----\nCERT\n-----END CERTIFICATE-----\n',
    private_key: '-----BEGIN RSA PRIVATE KEY-----\nKEY\n-----END RSA PRIVATE KEY-----\n',
  },
  network: 'bosh',
  internal_ip: '10.245.0.10',
  internal_cidr: '10.245.0.0/16',
  internal_gw: '10.245.0.1',
  director_name: 'docker',
  mbus_bootstrap_password: 'mbus-password',
  mbus_bootstrap_ssl: { ca: 'CA', certificate: 'CERT', private_key: 'KEY' },
};

/** A manifest with the structure of bosh-deployment's bosh.yml where the ops files touch it. */
export const BOSH_YML = {
  name: 'bosh',
  releases: [{ name: 'bosh', version: '1' }, { name: 'bpm', version: '1' }],
  resource_pools: [{ name: 'vms', network: 'default', env: { bosh: { mbus: { cert: '((mbus_bootstrap_ssl))' } } } }],
  disk_pools: [{ name: 'disks', disk_size: 65536 }],
  networks: [{ name: 'default', type: 'manual', subnets: [{ range: '((internal_cidr))', gateway: '((internal_gw))', static: ['((internal_ip))'] }] }],
  instance_groups: [
    {
      name: 'bosh',
      instances: 1,
      jobs: [{ name: 'bpm', release: 'bpm' }, { name: 'director', release: 'bosh' }],
      resource_pool: 'vms',
      networks: [{ name: 'default', static_ips: ['((internal_ip))'] }],
      properties: { director: { address: '((internal_ip))', name: '((director_name))' } },
    },
  ],
  cloud_provider: {
    mbus: 'https://mbus:((mbus_bootstrap_password))@((internal_ip)):6868',
    cert: '((mbus_bootstrap_ssl))',
    properties: { agent: { mbus: 'https://mbus:((mbus_bootstrap_password))@0.0.0.0:6868' } },
  },
};
