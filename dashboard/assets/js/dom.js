// DOM helpers: build elements without innerHTML (API data is always text), announce, move focus.

/**
 * h("button", {class: "button", onclick: fn, "aria-label": "Close"}, "×") → an element.
 * Attributes: `class`, `dataset` (object), `on<event>` (listener), booleans (true sets, false/null skips),
 * anything else via setAttribute. Children: strings (as text), nodes, arrays, null/false (skipped).
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "dataset") Object.assign(element.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "value" && "value" in element) element.value = value;
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces everything inside `element` with `children`. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

let uniqueCounter = 0;
/** A document-unique id, for label/aria wiring. */
export function uid(prefix = "id") {
  uniqueCounter += 1;
  return `${prefix}-${uniqueCounter}`;
}

/** Says `text` to screen readers through the polite live region (visible users see the UI change). */
export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  // A fresh text node on the next frame, so the same sentence twice is announced twice.
  requestAnimationFrame(() => {
    region.textContent = text;
  });
}

/** Moves focus to a heading or container without scrolling the page under the user. */
export function focusElement(element) {
  if (!element) return;
  if (!element.hasAttribute("tabindex") && !isFocusable(element)) element.setAttribute("tabindex", "-1");
  element.focus({ preventScroll: false });
}

function isFocusable(element) {
  return element.matches("a[href], button, input, select, textarea, [tabindex]");
}

/** A labelled form field: label + control (+ hint) + an error slot wired with aria-describedby. */
export function field({ label, control, hint = null, className = "field" }) {
  const id = control.id || uid("field");
  control.id = id;
  const hintElement = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  const errorElement = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
  control.setAttribute("aria-describedby", [hintElement?.id, errorElement.id].filter(Boolean).join(" "));
  return h("div", { class: className }, h("label", { for: id }, label), control, hintElement, errorElement);
}

/** Shows an API error in a form: the message at the top (role=alert), each named field next to it. */
export function showFormError(form, error) {
  clearFormError(form);
  const summary = form.querySelector(".form-error");
  if (summary) {
    summary.textContent = error.message;
    summary.hidden = false;
  }
  let first = null;
  const unplaced = [];
  for (const problem of error.fields ?? []) {
    const control = form.elements.namedItem(problem.field);
    if (!control || !(control instanceof HTMLElement) || control.hidden) {
      unplaced.push(problem); // e.g. "body": a rule about several fields at once
      continue;
    }
    control.setAttribute("aria-invalid", "true");
    const slot = document.getElementById(`${control.id}-error`);
    if (slot) {
      slot.textContent = problem.problem;
      slot.hidden = false;
    }
    first ??= control;
  }
  if (summary && unplaced.length) {
    summary.append(h("ul", {}, unplaced.map((p) => h("li", {}, p.problem))));
  }
  (first ?? summary)?.focus?.();
}

export function clearFormError(form) {
  const summary = form.querySelector(".form-error");
  if (summary) {
    summary.replaceChildren();
    summary.hidden = true;
  }
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  for (const slot of form.querySelectorAll(".field-error")) {
    slot.textContent = "";
    slot.hidden = true;
  }
}

/** The error summary a form shows at its top (focusable, announced). */
export function formErrorSlot() {
  return h("p", { class: "form-error", role: "alert", tabindex: "-1", hidden: true });
}

/** Disables a button while `work` runs (no double submits); returns work's result. A disabled button
 * drops focus, so a button that had it gets it back (when it is still on the page and nothing else took
 * focus meanwhile). */
export async function busy(button, work) {
  const wasDisabled = button?.disabled;
  const hadFocus = button && document.activeElement === button;
  if (button) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
  }
  try {
    return await work();
  } finally {
    if (button) {
      button.disabled = wasDisabled ?? false;
      button.removeAttribute("aria-busy");
      const focusLost = !document.activeElement || document.activeElement === document.body;
      if (hadFocus && focusLost && button.isConnected) button.focus();
    }
  }
}
