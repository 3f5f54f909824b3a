// The web view's files (web/dist, built by `npm run build:web`), served under /ui/ (and `/`
// redirecting there): no server of its own at run time. Hashed assets are cached for a year, the
// page itself is revalidated every time (so a new build is picked up at once), any other path
// under /ui/ is the page (the view routes in the browser), and every answer carries headers that
// keep the page from running anything but its own files: a CSP with no inline script or style.
import { existsSync } from "node:fs";
import { extname, join, resolve } from "node:path";
import express, { Router, type RequestHandler, type Response } from "express";
import { WEB_VIEW_PREFIX } from "./auth/route-policy.js";
import { sendError } from "./http.js";

/** Where `npm run build:web` writes the view: web/dist at the repository's top, from api/ or dist/api/. */
export function defaultWebViewDir(): string {
  const candidates = [resolve(import.meta.dirname, "../web/dist"), resolve(import.meta.dirname, "../../web/dist")];
  return candidates.find((d) => existsSync(join(d, "index.html"))) ?? candidates[0]!;
}

const IMMUTABLE = "public, max-age=31536000, immutable";
/** A script or style sheet Vite wrote, named by its hash: nothing with a path in it. */
const HASHED_ASSET = /^assets\/[A-Za-z0-9_-]+\.(js|css)$/;

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'", // the API, its event streams included: same origin
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

function securityHeaders(res: Response) {
  res.set({
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
  });
}

/**
 * `GET /` → the view. Mounted before authentication: it sends a browser to /ui/ and shows nothing,
 * so `/` itself need not be a public path.
 */
export const rootRedirect: RequestHandler = (req, res, next) => (req.method === "GET" && req.path === "/" ? res.redirect(302, `${WEB_VIEW_PREFIX}/`) : next());

export function webViewRouter(dir: string = defaultWebViewDir()): Router {
  const r = Router();
  const index = join(dir, "index.html");
  const base = `${WEB_VIEW_PREFIX}/`;

  // Express matches "/ui" with or without its slash: only the bare one is redirected.
  r.get(WEB_VIEW_PREFIX, (req, res, next) => (req.path.endsWith("/") ? next() : res.redirect(301, base)));

  // Scripts and styles gzipped at build time (a third of their size), to browsers that take it.
  r.get(`${base}assets/*file`, (req, res, next) => {
    const rel = req.path.slice(base.length);
    if (!HASHED_ASSET.test(rel) || !req.acceptsEncodings("gzip")) return next();
    const gz = join(dir, `${rel}.gz`);
    if (!existsSync(gz)) return next();
    securityHeaders(res);
    res.set({ "Content-Encoding": "gzip", Vary: "Accept-Encoding", "Cache-Control": IMMUTABLE });
    res.type(extname(rel)); // the type of what is inside, not application/gzip
    res.sendFile(gz, (err) => err && next(err));
  });

  r.use(
    base,
    express.static(dir, {
      index: false, // the page goes through the fallback below, with its no-cache header
      redirect: false,
      fallthrough: true,
      setHeaders(res, path) {
        securityHeaders(res);
        // Vite names every asset by its content hash: a changed file is a new URL.
        if (path.includes(join(dir, "assets"))) res.set({ "Cache-Control": IMMUTABLE, Vary: "Accept-Encoding" });
        else res.setHeader("Cache-Control", "no-cache");
      },
    }),
  );

  // Any other GET under /ui/ is a route of the view: the page. A missing asset stays a 404.
  r.get([base, `${base}*rest`], (req, res) => {
    if (req.path.startsWith(`${base}assets/`)) return sendError(res, 404, "not_found", `no file ${req.path}`);
    if (!existsSync(index)) return sendError(res, 503, "web_view_not_built", "the web view is not built: run `npm run build:web` (npm start and npm test build it)");
    securityHeaders(res);
    res.setHeader("Cache-Control", "no-cache");
    res.sendFile(index);
  });
  return r;
}
