// A link inside the view: a real href (so it opens in a new tab too), routed without a reload.
import type { ComponentChildren } from "preact";
import { BASE, onLinkClick } from "../router.js";

export function Link({ to, children, class: cls, current }: { to: string; children: ComponentChildren; class?: string; current?: boolean }) {
  return (
    <a href={BASE + to} class={cls} aria-current={current ? "page" : undefined} onClick={(e) => onLinkClick(e as unknown as MouseEvent, to)}>
      {children}
    </a>
  );
}
