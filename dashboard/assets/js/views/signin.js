// Sign-in: an API key, checked against the API, kept in this tab's sessionStorage only.

import { busy, field, formErrorSlot, h, showFormError } from "../dom.js";

export function mount(root, { reason, verify, signedIn }) {
  const input = h("input", {
    type: "password",
    name: "api_key",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    placeholder: "wg_…",
  });
  const submit = h("button", { type: "submit", class: "button primary wide" }, "Sign in");
  const error = formErrorSlot();
  const form = h(
    "form",
    { class: "card signin-card", novalidate: true },
    h("h1", {}, "Sign in to wagate"),
    h("p", { class: "muted" }, "Use an API key of your tenant. It stays in this browser tab only."),
    reason ? h("p", { class: "notice notice-error inline", role: "alert" }, reason) : null,
    error,
    field({
      label: "API key",
      control: input,
      hint: "Create one with: wagate admin create-tenant \"Your company\"",
    }),
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) {
      showFormError(form, { message: "Enter an API key.", fields: [{ field: "api_key", problem: "Required" }] });
      return;
    }
    try {
      await busy(submit, () => verify(key));
    } catch (failure) {
      showFormError(form, failure);
      input.focus();
      return;
    }
    signedIn(key);
  });
  root.replaceChildren(h("div", { class: "signin" }, form));
  input.focus();
  return { unmount() {} };
}
