// A small helper to build DOM nodes without a framework.

type Attrs = Record<string, string | number | boolean | EventListener | undefined | null>;
type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "class") {
      el.className = String(value);
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, ...children);
  return el;
}

export function append(el: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el as T;
}

export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, ...children);
}

/** Tabs with the ARIA tabs pattern: arrow keys move between tabs, each shows one panel. */
export function tabs(
  label: string,
  items: { id: string; title: string; panel: HTMLElement }[],
  onChange?: (id: string) => void,
): { root: HTMLElement; select: (id: string) => void; current: () => string } {
  const list = h("div", { role: "tablist", "aria-label": label, class: "tabs" });
  const root = h("div", { class: "tabbed" }, list);
  let current = items[0].id;
  const buttons = items.map((item, i) => {
    const b = h(
      "button",
      {
        type: "button",
        role: "tab",
        id: `tab-${item.id}`,
        onclick: () => select(item.id),
        onkeydown: (e: Event) => {
          const k = (e as KeyboardEvent).key;
          if (k !== "ArrowRight" && k !== "ArrowLeft") return;
          const next = items[(i + (k === "ArrowRight" ? 1 : items.length - 1)) % items.length];
          select(next.id);
          document.getElementById(`tab-${next.id}`)?.focus();
        },
      },
      item.title,
    );
    if (!item.panel.id) item.panel.id = `panel-${item.id}`;
    b.setAttribute("aria-controls", item.panel.id);
    item.panel.setAttribute("role", "tabpanel");
    item.panel.setAttribute("aria-labelledby", `tab-${item.id}`);
    list.appendChild(b);
    root.appendChild(item.panel);
    return b;
  });
  function select(id: string, notify = true): void {
    current = id;
    items.forEach((item, i) => {
      const on = item.id === id;
      buttons[i].setAttribute("aria-selected", String(on));
      buttons[i].tabIndex = on ? 0 : -1;
      item.panel.hidden = !on;
    });
    if (notify) onChange?.(id);
  }
  select(current, false);
  return { root, select, current: () => current };
}
