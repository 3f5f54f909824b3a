// The web view's build: Preact through Vite, served by the API under /ui/ (api/web-view.ts).
// Everything is bundled (the typed client and zod included): no CDN, nothing fetched at run time.
import { existsSync } from "node:fs";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import preact from "@preact/preset-vite";
import { defineConfig, type Plugin } from "vite";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));

/**
 * Lists the project's own files the bundle was made from in dist/.inputs.json (a dotfile: not
 * served), so scripts/build-web.mjs can skip the build while none of them changed.
 */
function buildInputs(): Plugin {
  return {
    name: "jetq-build-inputs",
    generateBundle() {
      const ids = [...this.getModuleIds()].filter((id) => !id.startsWith("\0") && !id.includes("/node_modules/") && existsSync(id));
      this.emitFile({ type: "asset", fileName: ".inputs.json", source: JSON.stringify(ids.map((id) => relative(repoRoot, id)).sort(), null, 1) });
    },
  };
}

/** A .gz beside each script and style sheet: the API sends it to browsers that take gzip (api/web-view.ts). */
function gzipped(): Plugin {
  return {
    name: "jetq-gzip",
    generateBundle(_options, bundle) {
      for (const [fileName, out] of Object.entries(bundle)) {
        if (!/\.(js|css)$/.test(fileName)) continue;
        const source = out.type === "chunk" ? out.code : out.source;
        this.emitFile({ type: "asset", fileName: `${fileName}.gz`, source: gzipSync(source, { level: 9 }) });
      }
    },
  };
}

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/ui/",
  plugins: [preact(), buildInputs(), gzipped()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // One small CSS file and no inline scripts: the CSP allows only 'self'.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
    rollupOptions: {
      // zod's sources carry comments Rollup cannot place; they change nothing in the bundle.
      onLog(level, log, handler) {
        if (log.code === "INVALID_ANNOTATION" && log.id?.includes("node_modules")) return;
        handler(level, log);
      },
    },
  },
});
