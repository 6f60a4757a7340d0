// API key management: create (permissions, IP allow-list; the secret is shown once), revoke.

import { ApiError, people } from "../api";
import { h, replace } from "../dom";

interface Key {
  api_key: string;
  type: string;
  permissions: string[];
  ips: string[];
  revoked: boolean;
}

export function mountApiKeys(): { open: () => void } {
  const list = h("div", { id: "key-list" });
  const perms = ["read", "trade", "withdraw"].map((p) =>
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "perm", value: p, checked: p !== "withdraw" }), p),
  );
  const ips = h("textarea", { id: "key-ips", rows: 2, placeholder: "e.g. 203.0.113.7, 10.0.0.0/8 (empty: any address)" });
  const message = h("div", { class: "message", id: "key-message", role: "status", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "key-form", id: "key-form" },
    h("fieldset", {}, h("legend", {}, "Permissions"), ...perms),
    h("label", { for: "key-ips" }, "Allowed IP addresses or networks"),
    ips,
    h("button", { type: "submit", class: "primary", id: "create-key" }, "Create key"),
  );
  const dialog = h(
    "dialog",
    { id: "keys-dialog", "aria-labelledby": "keys-title" },
    h(
      "div",
      { class: "dialog-head" },
      h("h2", { id: "keys-title" }, "API keys"),
      h("button", { type: "button", class: "ghost", "aria-label": "Close", onclick: () => dialog.close() }, "✕"),
    ),
    form,
    message,
    h("h3", {}, "Your keys"),
    list,
  );
  document.body.appendChild(dialog);

  function fail(err: unknown): void {
    message.className = "message error";
    replace(message, err instanceof ApiError ? err.msg : String(err));
  }

  async function load(): Promise<void> {
    const r = await people<{ keys: Key[] }>("GET", "apikeys");
    const live = r.keys.filter((k) => !k.revoked);
    if (!live.length) return replace(list, h("p", { class: "empty" }, "No API keys."));
    replace(
      list,
      h(
        "ul",
        { class: "keys" },
        ...live.map((k) =>
          h(
            "li",
            { "data-key": k.api_key },
            h("code", {}, k.api_key),
            h("span", {}, ` ${k.permissions.join(", ")} · ${k.ips.length ? k.ips.join(", ") : "any IP"} `),
            h("button", { type: "button", class: "revoke", "aria-label": `Revoke key ${k.api_key}`, onclick: () => void revoke(k.api_key) }, "Revoke"),
          ),
        ),
      ),
    );
  }

  async function revoke(key: string): Promise<void> {
    try {
      await people("DELETE", "apikeys", { api_key: key });
      message.className = "message ok";
      replace(message, `Revoked ${key}.`);
      await load();
    } catch (err) {
      fail(err);
    }
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const permissions = perms.map((l) => l.querySelector("input")!).filter((i) => i.checked).map((i) => i.value);
    const allowed = ips.value.split(/[\s,]+/).filter(Boolean);
    try {
      const k = await people<Key & { secret: string }>("POST", "apikeys", { permissions, ips: allowed });
      const secret = h("code", { id: "new-secret" }, k.secret);
      message.className = "message ok";
      replace(
        message,
        h("p", {}, "Key ", h("code", { id: "new-key" }, k.api_key), " created. Its secret is shown only now; copy it:"),
        h("p", { class: "secret" }, secret, " ", h("button", { type: "button", onclick: () => void navigator.clipboard?.writeText(k.secret).catch(() => undefined) }, "Copy")),
      );
      ips.value = "";
      await load();
    } catch (err) {
      fail(err);
    }
  });

  return {
    open: () => {
      replace(message);
      dialog.showModal();
      void load().catch(fail);
    },
  };
}
