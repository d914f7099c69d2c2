// Templates: the tenant's own and the built-in ones; create and edit, with a live preview rendered by
// the API (POST /v1/templates/{name}/preview) as variable values are typed.

import { confirmDialog } from "../dialog.js";
import { announce, busy, clearFormError, field, focusElement, formErrorSlot, h, replace, showFormError } from "../dom.js";
import { showError } from "../notices.js";

const PREVIEW_DELAY_MS = 250;

export function mount(root, { api }) {
  let templates = [];
  let selected = null; // the saved template being edited, or null for a new one
  let previewTimer = null;
  let previewSeq = 0;

  const list = h("ul", { class: "template-list", "aria-label": "Templates" });
  const create = h("button", { type: "button", class: "button primary" }, "New template");
  const editor = h("section", { class: "card template-editor", "aria-labelledby": "template-editor-title" });
  root.replaceChildren(
    h("div", { class: "page-head" }, h("h1", {}, "Templates"), create),
    h("p", { class: "muted lead" }, "Messages with {placeholders}. Built-in ones can be copied and changed."),
    h("div", { class: "split" }, h("div", { class: "split-side" }, list), editor),
  );

  const load = async (keep = null) => {
    try {
      templates = await api.templates();
    } catch (error) {
      showError(error);
      return;
    }
    renderList();
    const again = keep && templates.find((t) => t.name === keep.name && t.language === keep.language);
    edit(again ?? (selected ? null : templates.find((t) => !t.builtin) ?? templates[0] ?? null), { focus: false });
  };

  const renderList = () => {
    replace(
      list,
      templates.map((t) =>
        h(
          "li",
          {},
          h(
            "button",
            {
              type: "button",
              class: "template-item",
              "aria-current": selected && t.name === selected.name && t.language === selected.language ? "true" : null,
              dataset: { name: t.name, language: t.language },
              onclick: () => edit(t),
            },
            h("span", { class: "template-name" }, t.name),
            h("span", { class: "badges" }, h("span", { class: "badge" }, t.language), t.builtin ? h("span", { class: "badge badge-muted" }, "built-in") : null),
            t.description ? h("span", { class: "template-description" }, t.description) : null,
          ),
        ),
      ),
    );
  };

  /** Shows the editor for a saved template, or an empty one (null), optionally prefilled. */
  const edit = (template, { focus = true, prefill = null } = {}) => {
    selected = template;
    renderList();
    const builtin = Boolean(template?.builtin);
    const source = template ?? prefill ?? {};
    const title = h(
      "h2",
      { id: "template-editor-title", tabindex: "-1" },
      template ? `${builtin ? "Built-in" : "Edit"}: ${template.name} (${template.language})` : "New template",
    );
    const input = (name, attributes) => h("input", { name, type: "text", autocomplete: "off", ...attributes });
    const body = h("textarea", { name: "body", rows: 6, maxlength: 4096, required: true, readonly: builtin, value: source.body ?? "" });
    const save = h("button", { type: "submit", class: "button primary", hidden: builtin }, template ? "Save changes" : "Create template");
    const form = h(
      "form",
      { class: "stack", novalidate: true },
      formErrorSlot(),
      h(
        "div",
        { class: "row" },
        field({
          label: "Name",
          control: input("name", { value: source.name ?? "", readonly: Boolean(template), pattern: "[a-z0-9][a-z0-9_-]*", maxlength: 64 }),
          hint: template ? null : "Lower-case letters, digits, _ and -, e.g. appointment_reminder",
        }),
        field({ label: "Language", control: input("language", { value: source.language ?? "en", readonly: Boolean(template), maxlength: 6 }), className: "field narrow" }),
      ),
      field({ label: "Description", control: input("description", { value: source.description ?? "", readonly: builtin, maxlength: 500 }) }),
      field({ label: "Text", control: body, hint: "Use {name} for values given when sending, e.g. Hi {client_name}!" }),
      template?.warnings?.length ? h("ul", { class: "warnings" }, template.warnings.map((w) => h("li", {}, w))) : null,
      h(
        "div",
        { class: "form-actions" },
        save,
        builtin
          ? h("button", { type: "button", class: "button", onclick: () => edit(null, { prefill: { ...template, name: `${template.name}_copy` } }) }, "Copy as a new template")
          : null,
        template && !builtin ? h("button", { type: "button", class: "button ghost danger-text", onclick: (e) => remove(e.currentTarget) }, "Delete") : null,
      ),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearFormError(form);
      const data = new FormData(form);
      const values = Object.fromEntries([...data.entries()].map(([k, v]) => [k, String(v)]));
      let saved;
      try {
        saved = await busy(save, () =>
          template
            ? api.updateTemplate(template.name, template.language, { body: values.body, description: values.description || null })
            : api.createTemplate({ name: values.name.trim(), language: values.language.trim(), body: values.body, description: values.description || null }),
        );
      } catch (error) {
        showFormError(form, error);
        return;
      }
      announce(`Template ${saved.name} saved`);
      await load(saved);
      focusElement(document.getElementById("template-editor-title"));
    });
    body.addEventListener("input", () => {
      unsaved.hidden = !template || body.value === template.body;
    });

    const unsaved = h("p", { class: "hint", hidden: true }, "The preview shows the saved text; save to preview your changes.");
    const variables = h("div", { class: "variables" });
    const output = h("p", { class: "preview-text", "aria-live": "polite" });
    const preview = template
      ? h(
          "div",
          { class: "preview-panel" },
          h("h3", {}, "Preview"),
          unsaved,
          variables,
          h("div", { class: "preview" }, h("p", { class: "preview-label" }, "As it will be sent"), output),
        )
      : h("p", { class: "muted" }, "Create the template to preview it with values.");
    if (template) {
      const defaults = Object.fromEntries((template.variables ?? []).map((v) => [v.name, v]));
      replace(
        variables,
        template.placeholders.map((name) =>
          field({
            label: name,
            control: h("input", { type: "text", dataset: { variable: name }, placeholder: defaults[name]?.default ?? "", oninput: () => schedulePreview(template, variables, output) }),
          }),
        ),
      );
      schedulePreview(template, variables, output);
    }
    replace(editor, title, form, preview);
    if (focus) focusElement(title);
  };

  const schedulePreview = (template, variables, output) => {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(async () => {
      const seq = ++previewSeq;
      const values = {};
      for (const input of variables.querySelectorAll("input[data-variable]")) {
        if (input.value) values[input.dataset.variable] = input.value;
      }
      try {
        const result = await api.previewTemplate(template.name, template.language, values);
        if (seq !== previewSeq) return;
        output.textContent = result.text;
        output.classList.remove("preview-problem");
      } catch (error) {
        if (seq !== previewSeq) return;
        output.textContent = error.message; // which values are still missing, in the API's words
        output.classList.add("preview-problem");
      }
    }, PREVIEW_DELAY_MS);
  };

  const remove = async (button) => {
    const template = selected;
    const ok = await confirmDialog({
      title: `Delete ${template.name} (${template.language})?`,
      message: "Messages already sent with it are kept; reminder plans that use it will fail to send.",
      confirmLabel: "Delete",
      danger: true,
    });
    if (!ok) return;
    try {
      await busy(button, () => api.deleteTemplate(template.name, template.language));
    } catch (error) {
      showError(error);
      return;
    }
    announce(`Template ${template.name} deleted`);
    selected = null;
    await load();
    focusElement(root.querySelector("h1"));
  };

  create.addEventListener("click", () => edit(null));
  load();
  return {
    unmount() {
      clearTimeout(previewTimer);
    },
  };
}
