// Lint configuration: typescript-eslint's recommended rules, type-aware where a bug hides in types
// (a promise nobody waits for or catches turns any failure into a crash of the process), plus the
// layering rule of ARCHITECTURE.md section 2: engine/ imports nothing of the project outside itself.
import tseslint from "typescript-eslint"

export default tseslint.config(
  { ignores: ["dist/**", "readers/dist/**", "node_modules/**", "**/node_modules/**", "bench/results/**"] },
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // `void promise` is no answer either: its rejection still ends the process. Catch it.
      "@typescript-eslint/no-floating-promises": ["error", { ignoreVoid: false }],
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: { arguments: false, attributes: false } }],
    },
  },
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-restricted-syntax": ["error",
        { selector: "CallExpression[callee.object.name='Math'][callee.property.name='random']", message: "Randomness comes from Effect's Random in the shells, or as an argument." }],
    },
  },
  {
    files: ["engine/**/*.ts"],
    ignores: ["engine/**/*.test.ts"],
    rules: {
      "no-restricted-imports": ["error", {
        patterns: [
          { group: ["**/actors/**", "**/transport/**", "**/storage/**", "**/readers/**", "**/bench/**", "**/test/**"], message: "engine/ imports nothing from the other layers." },
          { group: ["node:fs", "node:fs/*", "node:net", "node:http", "node:child_process", "fs", "net", "http"], message: "engine/ does no IO." },
        ],
      }],
      "no-restricted-globals": ["error",
        { name: "Date", message: "engine/ has no clock: time is an argument." },
        { name: "performance", message: "engine/ has no clock." },
        { name: "setTimeout", message: "engine/ has no timers." },
        { name: "process", message: "engine/ reads no environment." },
      ],
    },
  },
)
