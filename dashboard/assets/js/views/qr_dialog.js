// The QR modal: shows the code to scan, swaps it as `qr_code` events rotate it, and turns into a
// confirmation when `connection_success` arrives. Sandbox sessions get a "Simulate scan" button. A session
// linking by phone number shows its 8-character pairing code instead, to type on the phone.

import { openDialog } from "../dialog.js";
import { announce, busy, h, replace } from "../dom.js";
import { sessionStatus } from "../format.js";
import { showError } from "../notices.js";

export function openQrDialog({ api, live, sessions }, sessionId) {
  const session = sessions.get(sessionId);
  const sandbox = session?.provider === "sandbox";
  const name = session?.name ?? "this number";
  const cleanups = [];
  const { dialog, body, close, show } = openDialog({
    title: `Link ${name}`,
    className: "qr-dialog",
    onClose: () => cleanups.forEach((cleanup) => cleanup()),
  });
  dialog.dataset.sessionId = sessionId;

  const status = h("p", { class: "qr-status", role: "status" }, "Waiting for the QR code…");
  const image = h("img", { class: "qr-image", alt: `QR code to link ${name}`, width: 264, height: 264, hidden: true });
  const frame = h("div", { class: "qr-frame" }, image, h("div", { class: "qr-placeholder", "aria-hidden": "true" }));
  const steps = sandbox
    ? h(
        "p",
        { class: "sandbox-note" },
        h("span", { class: "badge badge-sandbox" }, "sandbox"),
        " This code is simulated: nothing reaches real WhatsApp. Use “Simulate scan” to link it.",
      )
    : h(
        "ol",
        { class: "steps" },
        h("li", {}, "Open WhatsApp on your phone."),
        h("li", {}, "Go to Settings → Linked devices → Link a device."),
        h("li", {}, "Point the phone at this code."),
      );
  const scan = sandbox
    ? h(
        "button",
        {
          type: "button",
          class: "button primary",
          onclick: (event) =>
            busy(event.currentTarget, async () => {
              try {
                await api.sandbox(sessionId, "scan");
                // connection_success may have come first; then there is nothing left to say here.
                if (dialog.dataset.state !== "connected") status.textContent = "Scanned. Connecting…";
              } catch (error) {
                status.textContent = error.message;
              }
            }),
        },
        "Simulate scan",
      )
    : null;
  const done = h("button", { type: "button", class: "button primary", hidden: true, onclick: () => close() }, "Done");
  const retry = h(
    "button",
    {
      type: "button",
      class: "button",
      hidden: true,
      onclick: (event) =>
        busy(event.currentTarget, async () => {
          try {
            await sessions.act(sessionId, () => api.sessionAction(sessionId, "connect"));
            retry.hidden = true;
            status.textContent = "Waiting for the QR code…";
          } catch (error) {
            showError(error);
          }
        }),
    },
    "Get a new code",
  );
  const actions = h("div", { class: "dialog-actions" }, retry, scan, done);
  body.append(steps, frame, status, h("p", { class: "hint" }, "The code changes every few seconds; it updates here by itself."), actions);

  const pairing = h("p", { class: "pairing-code", hidden: true });
  frame.append(pairing);
  const showPairingCode = (code) => {
    image.hidden = true;
    pairing.hidden = false;
    pairing.textContent = `${code.slice(0, 4)}-${code.slice(4)}`;
    frame.classList.add("has-code");
    replace(
      steps,
      h("li", {}, "Open WhatsApp on your phone."),
      h("li", {}, "Go to Settings → Linked devices → Link a device → Link with phone number instead."),
      h("li", {}, "Type this code."),
    );
    status.textContent = "Type the code on your phone.";
  };
  const showCode = (dataUrl) => {
    image.src = dataUrl;
    image.hidden = false;
    frame.classList.add("has-code");
    status.textContent = "Scan the code with your phone.";
  };
  const connected = (phone) => {
    frame.classList.add("linked");
    image.hidden = true;
    pairing.hidden = true;
    replace(status, h("strong", {}, "Connected"), phone ? ` as ${phone}` : "", ".");
    dialog.dataset.state = "connected";
    if (scan) scan.hidden = true;
    retry.hidden = true;
    done.hidden = false;
    done.focus();
    announce(`${name} is connected`);
  };
  const stopped = (text) => {
    image.hidden = true;
    pairing.hidden = true;
    frame.classList.remove("has-code");
    status.textContent = text;
    retry.hidden = false;
  };

  const mine = (data) => data.session_id === sessionId;
  cleanups.push(
    live.on("qr_code", (data) => {
      if (!mine(data)) return;
      if (data.pairing_code) showPairingCode(data.pairing_code);
      else if (data.qr_code) showCode(data.qr_code);
    }),
    live.on("connection_success", (data) => mine(data) && connected(data.phone)),
    live.on("logged_out", (data) => mine(data) && stopped("The phone unlinked this session.")),
    live.on(
      "session_failed",
      (data) => mine(data) && stopped(data.detail || (data.reason ? `Failed: ${data.reason}` : "Failed.")),
    ),
    live.on("session_status", (data) => {
      if (!mine(data) || data.status === "qr" || data.status === "connected") return;
      if (["disconnected", "failed", "logged_out"].includes(data.status)) {
        stopped(data.reason === "qr_timeout" ? "Nobody scanned in time." : sessionStatus(data.status).label);
      }
    }),
  );

  show(scan);
  if (session?.status === "connected") connected(session.phone);
  else if (session?.pairing_code) showPairingCode(session.pairing_code);
  else
    api.qrCode(sessionId).then(
      (code) => dialog.dataset.state !== "connected" && showCode(code.data_url),
      (error) => {
        if (error.code !== "no_qr_code" && error.status !== 404) status.textContent = error.message;
      },
    );
  return { close };
}
