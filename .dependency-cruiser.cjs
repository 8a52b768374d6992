/**
 * The layering of src/, checked by `npm run lint` (dependency-cruiser): no import cycles (type-only imports
 * included), market data independent of the AI layer, and the external systems each behind one owner.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'A cycle (type-only imports count too) means two modules cannot be understood or changed apart.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'market-data-below-ai',
      severity: 'error',
      comment: 'Market data knows nothing of the AI layer; whale alerts reach the event gate through a sink.',
      from: { path: '^src/market-data/' },
      to: { path: '^src/ai-optimization/' },
    },
    {
      name: 'common-below-features',
      severity: 'error',
      comment: 'src/common and src/config are used by every feature and use none.',
      from: { path: '^src/(common|config)/' },
      to: { path: '^src/(ai-optimization|cost-monitoring|market-data|agents|health)/' },
    },
    {
      name: 'only-redis-owns-ioredis',
      severity: 'error',
      comment: 'src/redis/ is the one owner of the Redis connection; everything else uses its repositories.',
      from: { pathNot: '^src/redis/' },
      to: { path: 'node_modules/(ioredis|ioredis-mock)/' },
    },
    {
      name: 'only-providers-call-openai',
      severity: 'error',
      comment: 'Only the provider clients speak to an LLM (types of its wire format may be shared).',
      from: { path: '^src/', pathNot: '^src/ai-optimization/providers/' },
      to: { path: 'node_modules/openai/', dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    includeOnly: ['^src/', 'node_modules/(ioredis|ioredis-mock|openai)/'],
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '\\.spec\\.ts$' },
  },
};
