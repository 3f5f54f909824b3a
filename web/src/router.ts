// A small router on the History API: the view lives under /ui/, the server answers every path
// there with the page, and links change the route without a reload.
import { useEffect, useState } from "preact/hooks";

export const BASE = "/ui";

/** The route: the path under /ui/ (without the prefix) and its query. */
export interface Route {
  path: string;
  query: URLSearchParams;
}

function current(): Route {
  const path = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) || "/" : "/";
  return { path, query: new URLSearchParams(location.search) };
}

const listeners = new Set<() => void>();

/** Goes to a path of the view (`/tasks/…`), optionally replacing the history entry. */
export function navigate(to: string, replace = false) {
  const url = BASE + to;
  if (url === location.pathname + location.search) return;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  for (const l of listeners) l();
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const update = () => setRoute(current());
    listeners.add(update);
    addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      removeEventListener("popstate", update);
    };
  }, []);
  return route;
}

/** An <a> that routes inside the view; modified clicks (new tab…) are left to the browser. */
export function onLinkClick(e: MouseEvent, to: string) {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(to);
}
