// The chat composer: text, a file (picked or dropped on the chat; the text is its caption) or a template
// (with its variables and a live preview), now or later. Enter sends, Shift+Enter starts a new line.
// A file is stored first (POST /v1/media, or a signed upload when large), then sent by its media id.

import { busy, clearFormError, field, formErrorSlot, h, replace, showFormError, uid } from "../dom.js";
import { epochToLocalInput, fileSize, localInputToEpoch } from "../format.js";

const PREVIEW_DELAY_MS = 250;

/**
 * target(): {sessionId, to} for the message, `to` null in a new conversation (the "To" field is used);
 * null while there is nowhere to send. send(body) does the request and everything after it.
 */
export function createComposer({ api, target, send }) {
  let templates = null;
  let previewTimer = null;
  let previewSeq = 0;

  const to = h("input", { name: "to", type: "tel", autocomplete: "off", placeholder: "+34600123456" });
  const toField = field({ label: "To", control: to, hint: "A phone number in international format, or a group id.", className: "field to-field" });
  toField.hidden = true;

  const modeName = uid("mode");
  const modeText = h("input", { type: "radio", name: "mode", value: "text", id: `${modeName}-text`, checked: true });
  const modeTemplate = h("input", { type: "radio", name: "mode", value: "template", id: `${modeName}-template` });
  const modes = h(
    "fieldset",
    { class: "segmented" },
    h("legend", { class: "visually-hidden" }, "Message type"),
    modeText,
    h("label", { for: modeText.id }, "Text"),
    modeTemplate,
    h("label", { for: modeTemplate.id }, "Template"),
  );

  const text = h("textarea", { name: "text", rows: 2, maxlength: 4096, placeholder: "Write a message" });
  const textField = field({ label: "Message", control: text, className: "field text-field" });

  // ---- an attached file ----
  let attached = null; // {file, preview (object URL of an image, or null)}
  const picker = h("input", { type: "file", name: "file", class: "visually-hidden", tabindex: "-1", "aria-hidden": "true" });
  const attachButton = h("button", { type: "button", class: "button ghost small attach-button" }, "📎 Attach a file");
  const attachment = h("div", { class: "attachment", hidden: true, "aria-live": "polite" });
  const uploadState = h("span", { class: "upload-state muted" });

  const templateSelect = h("select", { name: "template" });
  const variables = h("div", { class: "variables" });
  const preview = h("p", { class: "preview-text", "aria-live": "polite" });
  const templatePanel = h(
    "div",
    { class: "template-panel", hidden: true },
    field({ label: "Template to send", control: templateSelect }),
    variables,
    h("div", { class: "preview" }, h("p", { class: "preview-label" }, "Preview"), preview),
  );

  const later = h("input", { type: "checkbox", name: "later", id: uid("later") });
  const when = h("input", { type: "datetime-local", name: "scheduled_at" });
  const whenField = field({ label: "Send at", control: when, hint: "In your time zone.", className: "field when-field" });
  whenField.hidden = true;
  const schedule = h("div", { class: "schedule" }, h("div", { class: "check" }, later, h("label", { for: later.id }, "Send later")), whenField);

  const submit = h("button", { type: "submit", class: "button primary" }, "Send");
  const form = h(
    "form",
    { class: "composer", novalidate: true, "aria-label": "Write a message" },
    formErrorSlot(),
    toField,
    modes,
    attachment,
    textField,
    templatePanel,
    h("div", { class: "composer-foot" }, h("div", { class: "composer-tools" }, attachButton, picker, schedule), uploadState, submit),
  );

  const mode = () => (modeTemplate.checked ? "template" : "text");

  const attach = (file) => {
    detach();
    const preview = file.type.startsWith("image/") ? URL.createObjectURL(file) : null;
    attached = { file, preview };
    if (mode() === "template") {
      modeText.checked = true;
      modes.dispatchEvent(new Event("change"));
    }
    const remove = h("button", { type: "button", class: "icon-button", "aria-label": `Remove ${file.name}` }, "×");
    remove.addEventListener("click", () => {
      detach();
      text.focus();
    });
    replace(
      attachment,
      preview ? h("img", { class: "attachment-preview", src: preview, alt: "" }) : h("span", { class: "attachment-icon", "aria-hidden": "true" }, "📄"),
      h("span", { class: "attachment-name" }, file.name || "file"),
      h("span", { class: "attachment-size muted" }, fileSize(file.size)),
      remove,
    );
    attachment.hidden = false;
    text.placeholder = "Add a caption (optional)";
    text.setAttribute("aria-label", "Caption");
    text.focus();
  };

  const detach = () => {
    if (attached?.preview) URL.revokeObjectURL(attached.preview);
    attached = null;
    picker.value = "";
    replace(attachment);
    attachment.hidden = true;
    text.placeholder = "Write a message";
    text.removeAttribute("aria-label");
  };

  attachButton.addEventListener("click", () => picker.click());
  picker.addEventListener("change", () => {
    const [file] = picker.files;
    if (file) attach(file);
  });

  /** Stores the attached file; its media object (the id a send names). */
  const upload = async () => {
    const stage = { uploading: "Uploading…", checking: "Checking the file…" };
    try {
      return await api.uploadMedia(attached.file, { onStage: (name) => (uploadState.textContent = stage[name] ?? "") });
    } finally {
      uploadState.textContent = "";
    }
  };
  const selected = () => templates?.find((t) => `${t.name}|${t.language}` === templateSelect.value) ?? null;

  const loadTemplates = async () => {
    if (templates) return;
    try {
      templates = await api.templates();
    } catch (error) {
      preview.textContent = error.message;
      return;
    }
    replace(
      templateSelect,
      templates.map((t) =>
        h("option", { value: `${t.name}|${t.language}` }, `${t.name} (${t.language})${t.builtin ? " · built-in" : ""}`),
      ),
    );
    renderVariables();
  };

  const renderVariables = () => {
    const template = selected();
    if (!template) return replace(variables);
    const defaults = Object.fromEntries(template.variables.map((v) => [v.name, v]));
    replace(
      variables,
      template.placeholders.map((name) =>
        field({
          label: name,
          control: h("input", {
            name: `variables.${name}`,
            type: "text",
            dataset: { variable: name },
            placeholder: defaults[name]?.default ?? "",
            oninput: schedulePreview,
          }),
          hint: defaults[name]?.description ?? null,
        }),
      ),
    );
    schedulePreview();
  };

  const variableValues = () => {
    const values = {};
    for (const input of variables.querySelectorAll("input[data-variable]")) {
      if (input.value) values[input.dataset.variable] = input.value;
    }
    return values;
  };

  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(renderPreview, PREVIEW_DELAY_MS);
  }

  const renderPreview = async () => {
    const template = selected();
    if (!template) return;
    const seq = ++previewSeq;
    try {
      const result = await api.previewTemplate(template.name, template.language, variableValues());
      if (seq === previewSeq) {
        preview.textContent = result.text;
        preview.classList.remove("preview-problem");
      }
    } catch (error) {
      if (seq !== previewSeq) return;
      preview.textContent = error.message; // e.g. which variables are still missing
      preview.classList.add("preview-problem");
    }
  };

  modes.addEventListener("change", () => {
    const template = mode() === "template";
    templatePanel.hidden = !template;
    textField.hidden = template;
    if (template) loadTemplates();
  });
  templateSelect.addEventListener("change", renderVariables);
  later.addEventListener("change", () => {
    whenField.hidden = !later.checked;
    if (later.checked) {
      const soon = Math.ceil(Date.now() / 1000 / 300) * 300 + 600; // a round time, 10-15 minutes ahead
      when.min = epochToLocalInput(Date.now() / 1000);
      if (!when.value) when.value = epochToLocalInput(soon);
      when.focus();
    }
  });
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormError(form);
    const where = target();
    if (!where) return;
    const body = { session_id: where.sessionId, to: where.to ?? to.value.trim() };
    const problems = [];
    if (!body.to) problems.push({ field: "to", problem: "Who should receive it?" });
    if (mode() === "text" && attached) {
      body.media = { caption: text.value.trim() || undefined, filename: attached.file.name || undefined };
    } else if (mode() === "text") {
      if (!text.value.trim()) problems.push({ field: "text", problem: "Write something first." });
      body.text = text.value;
    } else {
      const template = selected();
      if (!template) problems.push({ field: "template", problem: "Choose a template." });
      else body.template = { name: template.name, language: template.language, variables: variableValues() };
    }
    if (later.checked) {
      body.scheduled_at = localInputToEpoch(when.value);
      if (!body.scheduled_at) problems.push({ field: "scheduled_at", problem: "Choose when to send it." });
    }
    if (problems.length) {
      showProblems(problems);
      return;
    }
    try {
      await busy(submit, async () => {
        if (body.media) body.media.upload_id = (await upload()).id;
        await send(body);
      });
    } catch (error) {
      // A refused file (too large for its kind, a type the provider does not take): the API says why.
      showProblems(error.fields, error.message);
      return;
    }
    detach();
    text.value = "";
    later.checked = false;
    whenField.hidden = true;
    when.value = "";
    (mode() === "text" ? text : templateSelect).focus();
  });

  const showProblems = (fields, message = "Check the highlighted fields.") => {
    // The API names template variables as "template.variables.x"; the inputs are "variables.x".
    const mapped = (fields ?? []).map((f) => ({ ...f, field: f.field.replace(/^template\./, "") }));
    showFormError(form, { message, fields: mapped });
  };

  return {
    element: form,
    /** A new conversation needs a "To"; an open one already knows its peer. */
    setNewConversation(isNew) {
      toField.hidden = !isNew;
    },
    focus() {
      (toField.hidden ? text : to).focus();
    },
    /** A file to send (the chat's drop zone hands it here); the text becomes its caption. */
    attach,
  };
}
