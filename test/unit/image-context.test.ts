// The build context the Dockerfile sees: .dockerignore starts from "**" (nothing) and lets back in
// what the image needs, so every source a COPY names must be let back in, or `docker build` fails
// with "not found" (no engine runs here to catch it; this test does).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url);
const dockerfile = readFileSync(new URL("Dockerfile", root), "utf8");
const rules = readFileSync(new URL(".dockerignore", root), "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"));

/** The sources of the COPY instructions that read the build context (not another stage). */
function contextSources(): string[] {
  const sources: string[] = [];
  for (const line of dockerfile.split("\n")) {
    const m = /^COPY\s+(.+)$/.exec(line.trim());
    if (!m || /--from=/.test(m[1]!)) continue;
    const words = m[1]!.split(/\s+/).filter((w) => !w.startsWith("--"));
    sources.push(...words.slice(0, -1)); // the last word is the destination
  }
  return sources;
}

/** Whether `pattern` names `path`: everything, the path itself, or a folder holding it. */
function covers(pattern: string, path: string): boolean {
  if (pattern === "**" || pattern === path || pattern === `${path}/**`) return true;
  return path.startsWith(pattern.endsWith("/**") ? pattern.slice(0, -2) : `${pattern}/`);
}

/** Whether `path` is in the context: the last rule that names it wins. */
function inContext(path: string): boolean {
  let included = true;
  for (const rule of rules) {
    const negated = rule.startsWith("!");
    if (covers(negated ? rule.slice(1) : rule, path)) included = negated;
  }
  return included;
}

describe("the image's build context", () => {
  it("holds every source the Dockerfile copies from it", () => {
    const sources = contextSources();
    expect(sources).toEqual(expect.arrayContaining(["package.json", "kernel", "web", "scripts/image/entrypoint.sh"]));
    expect(sources.filter((s) => !inContext(s))).toEqual([]);
  });

  it("keeps local state, builds and dependencies out", () => {
    for (const rule of ["**/node_modules", "**/.jetq", "web/dist"]) expect(rules).toContain(rule);
  });
});
