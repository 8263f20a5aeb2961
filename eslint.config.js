// Lint rules: the recommended sets of ESLint and typescript-eslint, plus the project's own
// guard that server code logs through pino, never the console (the CLI may print).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'charts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }],
      'no-console': 'error',
    },
  },
  { files: ['src/cli/**', 'test/**', 'hack/**'], rules: { 'no-console': 'off' } },
  // A focused or skipped test makes a green run that checked less than it says.
  {
    files: ['test/**'],
    rules: {
      'no-restricted-properties': [
        'error',
        ...['describe', 'it', 'test'].flatMap((object) =>
          ['only', 'skip', 'skipIf', 'runIf', 'todo'].map((property) => ({ object, property, message: 'no focused, skipped or to-do tests: every test runs in CI' })),
        ),
      ],
    },
  },
  // The layers: core is pure, api is the contract every part imports, and nothing but the
  // operator itself (and tests) reaches into the operator's internals.
  {
    files: ['src/core/**', 'src/api/**', 'src/cli/**', 'src/dashboard/**', 'src/sidecar/**', 'src/client/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/operator/**'], message: 'import the contract from src/api (or pure code from src/core), never the operator' }] }] },
  },
);
