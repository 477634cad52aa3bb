// Bundles the Cockpit page: src/index.js (which imports its CSS, PatternFly's
// and xterm.js's) into OUTDIR/index.js and OUTDIR/index.css, PatternFly's
// fonts beside them, and copies index.html and manifest.json.
//
//   node build.mjs OUTDIR [NODE_MODULES]
//
// NODE_MODULES (default: ./node_modules) is where `npm ci` put the pinned
// packages; cmake keeps them in the build directory, not in the source tree.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const [outdir, modules = join(here, "node_modules")] = process.argv.slice(2);
if (!outdir) {
    console.error("usage: node build.mjs OUTDIR [NODE_MODULES]");
    process.exit(2);
}
const esbuild = (await import(pathToFileURL(join(resolve(modules), "esbuild", "lib", "main.js")))).default;

mkdirSync(outdir, { recursive: true });
await esbuild.build({
    entryPoints: [join(here, "src", "index.js")],
    outdir,
    bundle: true,
    minify: true,
    sourcemap: "linked",
    format: "iife",
    target: ["chrome100", "firefox100", "safari15"],
    nodePaths: [resolve(modules)],
    loader: { ".woff": "file", ".woff2": "file", ".ttf": "file", ".svg": "file", ".png": "file", ".jpg": "file" },
    assetNames: "assets/[name]-[hash]",
    logLevel: "warning",
});
for (const file of ["index.html", "manifest.json"])
    copyFileSync(join(here, file), join(outdir, file));
