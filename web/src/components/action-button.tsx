// A button for an action that needs a role: shown disabled, with the reason next to it, when the
// signed-in role may not do it (the server would refuse with 403 anyway).
import type { ComponentChildren } from "preact";
import { useId } from "preact/hooks";
import { roleAllows, type Role } from "../session.js";

interface Props {
  role: Role;
  need: Role;
  onClick: () => void;
  children: ComponentChildren;
  disabled?: boolean;
  kind?: "primary" | "danger" | "plain";
  busy?: boolean;
  type?: "button" | "submit";
}

export function ActionButton({ role, need, onClick, children, disabled, kind = "plain", busy, type = "button" }: Props) {
  const reasonId = useId();
  const allowed = roleAllows(role, need);
  return (
    <span class="action">
      <button type={type} class={`btn btn-${kind}`} onClick={onClick} disabled={!allowed || disabled || busy} aria-describedby={allowed ? undefined : reasonId} aria-busy={busy ? "true" : undefined}>
        {children}
      </button>
      {!allowed && (
        <span id={reasonId} class="reason">
          needs the {need} role (you are {role})
        </span>
      )}
    </span>
  );
}
