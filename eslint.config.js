import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'dist-bench/**',
      'scripts/**',
      'node_modules/**',
      'coverage/**',
      'test-output/**',
      'eslint.config.js',
      'jest.config.js',
      '.dependency-cruiser.cjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-extraneous-class': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    // src/redis/ is the one owner of the Redis connection: everything else goes through its repositories,
    // where each operation states what it does when Redis fails.
    files: ['src/**/*.ts'],
    ignores: ['src/redis/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[property.name=/^(client|pipeline)$/][object.property.name='redis']",
          message: 'Use a repository in src/redis/repositories/ instead of the Redis client.',
        },
        {
          selector: "MemberExpression[property.name=/^(client|pipeline)$/][object.name='redis']",
          message: 'Use a repository in src/redis/repositories/ instead of the Redis client.',
        },
      ],
    },
  },
  {
    // Tests assert on API JSON, which is untyped by nature: member access on it is the point of the assertion.
    files: ['test/**/*.ts', 'src/**/*.spec.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      'no-console': 'off',
    },
  },
  prettier,
);
