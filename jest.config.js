/**
 * Jest in ESM mode (Nest 12 is ESM): ts-jest transpiles, `tsc --noEmit` type-checks separately.
 *
 * Two projects, both run by `npm test`: "default" runs every test against the single Redis (REDIS_URL,
 * 127.0.0.1:6379 unless set); "cluster" starts a local three-master Redis Cluster once (globalSetup) and runs
 * the gateway, events, budget, pre-call and scale-out suites against it. `--selectProjects default` (or `cluster`)
 * runs one of them.
 */
const base = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
  setupFiles: ['<rootDir>/test/setup-env.ts'],
  testTimeout: 30000,
};

/** The suites that also run on the Redis Cluster (the scale-out suite runs only there). */
const CLUSTER_SUITES = [
  'test/ai-gateway.e2e-spec.ts',
  'test/events.e2e-spec.ts',
  'test/budget-reservations.spec.ts',
  'test/budget-alerts.e2e-spec.ts',
  'test/precall-script.spec.ts',
  'test/scale-out.e2e-spec.ts',
];

export default {
  maxWorkers: 2,
  testTimeout: 30000,
  projects: [
    {
      ...base,
      displayName: 'default',
      testMatch: [
        '<rootDir>/src/**/*.spec.ts',
        '<rootDir>/test/**/*.e2e-spec.ts',
        '<rootDir>/test/**/*.spec.ts',
      ],
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/scale-out\\.e2e-spec\\.ts$'],
    },
    {
      ...base,
      displayName: 'cluster',
      testMatch: CLUSTER_SUITES.map((path) => `<rootDir>/${path}`),
      setupFiles: [...base.setupFiles, '<rootDir>/test/setup-cluster-env.ts'],
      globalSetup: '<rootDir>/test/support/redis-cluster.ts',
      globalTeardown: '<rootDir>/test/support/cluster-global-teardown.ts',
    },
  ],
};
