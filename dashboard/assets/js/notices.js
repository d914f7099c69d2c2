// Page-level messages: errors stay until dismissed (role=alert), confirmations fade after a few seconds.

import { h } from "./dom.js";

const INFO_MS = 5000;

function region() {
  return document.getElementById("notices");
}

/** Shows an error; for an ApiError that is the API's own `error.message`. */
export function showError(error, prefix = "") {
  const text = error?.message || String(error);
  const notice = h(
    "div",
    { class: "notice notice-error", role: "alert" },
    h("p", {}, prefix ? `${prefix}: ${text}` : text),
    h(
      "button",
      { type: "button", class: "icon-button", "aria-label": "Dismiss", onclick: () => notice.remove() },
      "×",
    ),
  );
  region()?.append(notice);
  return notice;
}

export function showInfo(text) {
  const notice = h("div", { class: "notice notice-info", role: "status" }, h("p", {}, text));
  region()?.append(notice);
  setTimeout(() => notice.remove(), INFO_MS);
  return notice;
}

export function clearNotices() {
  region()?.replaceChildren();
}

/** Runs `work`, showing any failure as an error notice; returns its result or undefined. */
export async function attempt(work, prefix = "") {
  try {
    return await work();
  } catch (error) {
    showError(error, prefix);
    return undefined;
  }
}
