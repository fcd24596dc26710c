// eslint (flat config) with typescript-eslint: the house rules that a type checker does not hold.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'docs/', 'examples/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true } },
    rules: {
      // Short functions (TigerBeetle style): a function that does not fit on a screen does several things.
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
      'max-depth': ['error', 4],
      // One job per module: a file past this does several (comments and blank lines not counted).
      'max-lines': ['error', { max: 400, skipBlankLines: true, skipComments: true }],
      // More parameters than this want an options object (named at the call).
      'max-params': ['error', 6],
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      'no-constant-condition': ['error', { checkLoops: false }], // `for (;;)` loops carry their own bound
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'off', // raw JSON in tests and plan mutation
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // Raw Atomics only in the rooms that own shared words: src/shared/tables (tables.ts, the array's
    // tables by name; words.ts, other shared words), the scheduler's waits, the test hooks and the
    // rings. Everything else reads and changes a cross-thread word through those.
    files: ['src/**/*.ts', 'bench/**/*.ts'],
    ignores: ['src/shared/tables/**', 'src/shared/sched/**', 'src/shared/hooks/**', 'src/shared/links/ring.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        { name: 'Atomics', message: 'use src/shared/tables/tables.ts or src/shared/tables/words.ts' },
      ],
    },
  },
  {
    // Tests: one `it` may hold a whole scenario; the limit is for the product and the benchmarks.
    files: ['test/**/*.ts'],
    rules: { 'max-lines-per-function': 'off', 'max-lines': 'off' },
  },
  {
    files: ['**/*.mjs', '**/*.js', '**/*.cjs'],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', module: 'writable', require: 'readonly', URL: 'readonly' },
    },
  },
  {
    // The live view's page script runs in a browser (no build step): its globals, and short functions too.
    files: ['src/serve/ui/static/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: {
        window: 'readonly',
        document: 'readonly',
        sessionStorage: 'readonly',
        EventSource: 'readonly',
        fetch: 'readonly',
        atob: 'readonly',
        performance: 'readonly',
        requestAnimationFrame: 'readonly',
        uPlot: 'readonly',
      },
    },
    rules: {
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
      'max-depth': ['error', 4],
    },
  },
);
