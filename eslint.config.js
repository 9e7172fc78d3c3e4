// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

/** better-sqlite3's build depends on the Node.js version: load it only through the driver. */
const SQLITE_PACKAGES = ['better-sqlite3', 'better-sqlite3-node20'];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'coverage/', 'bench/results/', '.cache/', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: SQLITE_PACKAGES.map((name) => ({
            name,
            allowTypeImports: true,
            message: 'Use Sqlite from src/store/sqlite/driver.ts: it loads the better-sqlite3 build this Node.js runs safely.',
          })),
        },
      ],
    },
  },
  {
    // Tests read JSON answers from real HTTP servers: untyped by nature.
    files: ['**/*.test.ts', 'test/**'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['**/*.mjs', 'bench/**'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['**/*.mjs', 'bench/**'],
    languageOptions: { globals: { ...globals.node } },
    rules: {
      'no-restricted-imports': [
        'error',
        ...SQLITE_PACKAGES.map((name) => ({ name, message: 'Use Sqlite from dist/store/sqlite/driver.js.' })),
      ],
    },
  },
);
