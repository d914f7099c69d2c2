// Modal dialogs on the native <dialog>: showModal() makes the page behind inert and keeps focus inside;
// we add a labelled title, a close button, Escape handling and focus returning to the opener.

import { h, uid } from "./dom.js";

/**
 * Opens a modal. Returns {dialog, body, close}. `onClose` runs once, however it closes (Escape, the
 * close button, close()). Focus goes to `initialFocus` (or the first field/button) and, afterwards,
 * back to whatever had it before.
 */
export function openDialog({ title, className = "", onClose = () => {}, describedBy = null }) {
  const opener = document.activeElement;
  const titleId = uid("dialog-title");
  const body = h("div", { class: "dialog-body" });
  const closeButton = h("button", { type: "button", class: "icon-button", "aria-label": "Close" }, "×");
  const dialog = h(
    "dialog",
    { class: `dialog ${className}`.trim(), "aria-labelledby": titleId, "aria-describedby": describedBy },
    h("div", { class: "dialog-header" }, h("h2", { id: titleId }, title), closeButton),
    body,
  );
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    if (dialog.open) dialog.close();
    dialog.remove();
    onClose();
    if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
  };
  closeButton.addEventListener("click", close);
  dialog.addEventListener("cancel", (event) => {
    event.preventDefault(); // Escape: close through the same path, so focus returns
    close();
  });
  dialog.addEventListener("close", close);
  document.body.append(dialog);
  const show = (initialFocus = null) => {
    dialog.showModal();
    const visible = (element) => element && !element.hidden && element.getClientRects().length > 0;
    const candidates = body.querySelectorAll("[autofocus], input, select, textarea, button:not([disabled])");
    const target = visible(initialFocus) ? initialFocus : [...candidates].find(visible);
    (target ?? closeButton).focus();
  };
  return { dialog, body, close, show, titleId };
}

/** Asks a yes/no question; resolves true when confirmed. */
export function confirmDialog({ title, message, confirmLabel = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    let answer = false;
    const messageId = uid("confirm-message");
    const { body, close, show } = openDialog({
      title,
      className: "dialog-small",
      describedBy: messageId,
      onClose: () => resolve(answer),
    });
    const cancel = h("button", { type: "button", class: "button ghost", onclick: () => close() }, "Cancel");
    const confirm = h(
      "button",
      {
        type: "button",
        class: danger ? "button danger" : "button primary",
        onclick: () => {
          answer = true;
          close();
        },
      },
      confirmLabel,
    );
    body.append(h("p", { id: messageId }, message), h("div", { class: "dialog-actions" }, cancel, confirm));
    show(cancel); // the safe choice has focus
  });
}
