// Two builds of src/ with the TypeScript compiler: ESM (dist/esm) and CommonJS (dist/cjs), each
// with its .d.ts. dist/cjs gets its own package.json so that Node reads its .js as CommonJS.
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const compile = (...args) => execFileSync(process.execPath, [tsc, "-p", "tsconfig.json", ...args], { stdio: "inherit" });

rmSync("dist", { recursive: true, force: true });
compile();
compile("--module", "commonjs", "--moduleResolution", "node10", "--outDir", "dist/cjs");
mkdirSync("dist/cjs", { recursive: true });
writeFileSync("dist/cjs/package.json", JSON.stringify({ type: "commonjs" }) + "\n");
writeFileSync("dist/esm/package.json", JSON.stringify({ type: "module" }) + "\n");
