// Sign-up, login and logout (a session cookie), in a modal dialog; the header's user menu.

import { ApiError, people } from "../api";
import { h, replace } from "../dom";
import { bus, state } from "../store";
import type { User } from "../types";

export interface Auth {
  open: (mode: "login" | "signup") => void;
}

export function mountAuth(nav: HTMLElement, openKeys: () => void): Auth {
  const title = h("h2", { id: "auth-title" }, "Log in");
  const email = h("input", { id: "auth-email", name: "email", type: "email", autocomplete: "username", required: true });
  const password = h("input", { id: "auth-password", name: "password", type: "password", autocomplete: "current-password", required: true, minlength: 8 });
  const error = h("p", { class: "message error", id: "auth-error", role: "alert" });
  const submit = h("button", { type: "submit", id: "auth-submit", class: "primary" }, "Log in");
  const other = h("button", { type: "button", class: "link", id: "auth-switch" }, "");
  const close = h("button", { type: "button", class: "ghost", "aria-label": "Close", onclick: () => dialog.close() }, "✕");
  const form = h(
    "form",
    { method: "dialog", class: "auth-form" },
    h("div", { class: "dialog-head" }, title, close),
    h("label", { for: "auth-email" }, "E-mail"),
    email,
    h("label", { for: "auth-password" }, "Password"),
    password,
    error,
    submit,
    h("p", { class: "switch" }, other),
  );
  const dialog = h("dialog", { id: "auth-dialog", "aria-labelledby": "auth-title" }, form);
  document.body.appendChild(dialog);
  let mode: "login" | "signup" = "login";

  function open(m: "login" | "signup"): void {
    mode = m;
    const signup = m === "signup";
    replace(title, signup ? "Create an account" : "Log in");
    replace(submit, signup ? "Sign up" : "Log in");
    replace(other, signup ? "I have an account: log in" : "New here? Create an account");
    password.autocomplete = signup ? "new-password" : "current-password";
    replace(error);
    if (!dialog.open) dialog.showModal();
    email.focus();
  }

  other.addEventListener("click", () => open(mode === "login" ? "signup" : "login"));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    replace(error);
    submit.disabled = true;
    try {
      const user = await people<User>("POST", mode, { email: email.value, password: password.value });
      password.value = "";
      dialog.close();
      setUser(user);
    } catch (err) {
      replace(error, err instanceof ApiError ? err.msg : String(err));
    } finally {
      submit.disabled = false;
    }
  });

  async function logout(): Promise<void> {
    try {
      await people("POST", "logout");
    } finally {
      state.account = null;
      setUser(null);
    }
  }

  function render(): void {
    const u = state.user;
    if (u) {
      replace(
        nav,
        h("span", { class: "email", id: "user-email" }, u.email),
        h("button", { type: "button", id: "open-keys", onclick: openKeys }, "API keys"),
        h("button", { type: "button", id: "logout", onclick: () => void logout() }, "Log out"),
      );
    } else {
      replace(
        nav,
        h("button", { type: "button", id: "open-login", onclick: () => open("login") }, "Log in"),
        h("button", { type: "button", id: "open-signup", class: "primary", onclick: () => open("signup") }, "Sign up"),
      );
    }
  }

  function setUser(u: User | null): void {
    state.user = u;
    render();
    bus.emit("user", u);
  }

  render();
  void people<{ user: User | null }>("GET", "session").then(
    (r) => setUser(r.user),
    () => setUser(null),
  );
  return { open };
}
