// "Add account": a WhatsApp number linked by QR (web), an official Cloud API number (cloud), or a
// simulated one (sandbox). Resolves with the created session, or null when cancelled.

import { openDialog } from "../dialog.js";
import { busy, clearFormError, field, formErrorSlot, h, showFormError } from "../dom.js";

const KINDS = [
  { value: "web", label: "WhatsApp", hint: "Link a phone by scanning a QR code, like WhatsApp Web." },
  { value: "cloud", label: "Cloud API", hint: "An official Meta WhatsApp Business number (no phone needed)." },
  { value: "sandbox", label: "Sandbox", hint: "Simulated: a QR code, contacts who reply, receipts. Nothing reaches WhatsApp." },
];

const CLOUD_FIELDS = ["phone_number_id", "business_account_id", "access_token", "app_secret", "verify_token"];

/** The request body for POST /v1/sessions from the form's values (cloud credentials only for cloud). */
export function newSessionBody(values) {
  const body = { name: values.name.trim(), provider: values.provider };
  const phone = values.phone?.trim();
  if (phone) body.phone = phone;
  if (values.provider === "cloud") {
    for (const name of CLOUD_FIELDS) {
      const value = values[name]?.trim();
      if (value) body[name] = value;
    }
  }
  return body;
}

export function openNewAccountDialog({ api, sessions }) {
  return new Promise((resolve) => {
    let created = null;
    const { body, close, show } = openDialog({ title: "Add account", onClose: () => resolve(created) });
    const input = (name, attributes = {}) => h("input", { name, type: "text", autocomplete: "off", ...attributes });

    const kinds = h(
      "fieldset",
      { class: "choices" },
      h("legend", {}, "Type"),
      KINDS.map((kind, index) => {
        const id = `kind-${kind.value}`;
        return h(
          "div",
          { class: "choice" },
          h("input", { type: "radio", name: "provider", id, value: kind.value, checked: index === 0 }),
          h("label", { for: id }, h("strong", {}, kind.label), h("span", { class: "hint" }, kind.hint)),
        );
      }),
    );
    const cloudFields = h(
      "div",
      { class: "cloud-fields", hidden: true },
      field({ label: "Phone number ID", control: input("phone_number_id", { inputmode: "numeric" }) }),
      field({ label: "WhatsApp Business account ID", control: input("business_account_id", { inputmode: "numeric" }) }),
      field({
        label: "Access token",
        control: input("access_token", { type: "password" }),
        hint: "A permanent system-user token. It is stored encrypted and never shown again.",
      }),
      h(
        "details",
        { class: "more" },
        h("summary", {}, "Webhook settings (optional)"),
        field({
          label: "App secret",
          control: input("app_secret", { type: "password" }),
          hint: "Lets wagate check the signature of Meta's webhooks for this number.",
        }),
        field({ label: "Webhook verify token", control: input("verify_token", { type: "password" }) }),
      ),
    );
    const submit = h("button", { type: "submit", class: "button primary" }, "Add account");
    const form = h(
      "form",
      { class: "stack", novalidate: true },
      formErrorSlot(),
      field({ label: "Name", control: input("name", { required: true, maxlength: 120, placeholder: "Sales team" }) }),
      kinds,
      field({
        label: "Phone number (optional)",
        control: input("phone", { type: "tel", placeholder: "+34600123456", autocomplete: "tel" }),
        hint: "In international format. Learned when the phone links, if left empty.",
      }),
      cloudFields,
      h("div", { class: "dialog-actions" }, h("button", { type: "button", class: "button ghost", onclick: () => close() }, "Cancel"), submit),
    );
    form.addEventListener("change", () => {
      cloudFields.hidden = form.elements.namedItem("provider").value !== "cloud";
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearFormError(form);
      const data = new FormData(form);
      const values = Object.fromEntries([...data.entries()].map(([name, value]) => [name, String(value)]));
      if (!values.name.trim()) {
        showFormError(form, { message: "Give the account a name.", fields: [{ field: "name", problem: "Required" }] });
        return;
      }
      try {
        created = await busy(submit, () => api.createSession(newSessionBody(values)));
      } catch (error) {
        showFormError(form, error); // e.g. the API refusing a provider it does not offer yet
        return;
      }
      sessions.added(created);
      close();
    });
    body.append(form);
    show();
  });
}
