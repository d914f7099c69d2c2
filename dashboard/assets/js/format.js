// Presentation rules with no DOM: labels for statuses, delivery ticks, times, phone numbers.

export const SESSION_STATUS = {
  pending: { label: "Starting", tone: "wait" },
  qr: { label: "Waiting for scan", tone: "wait" },
  connecting: { label: "Connecting", tone: "wait" },
  connected: { label: "Connected", tone: "ok" },
  disconnected: { label: "Disconnected", tone: "off" },
  logged_out: { label: "Logged out", tone: "off" },
  failed: { label: "Failed", tone: "bad" },
};

// Status reasons a person should read as more than a code (domain/status_reports.py has them all).
const REASONS = {
  banned: "Banned by WhatsApp",
  temporarily_banned: "Temporarily banned by WhatsApp",
  restricted: "Restricted: WhatsApp refuses new chats (463)",
  rate_limited: "Rate-limited by WhatsApp",
  version_refused: "WhatsApp refused this client version; updating",
  replaced: "Replaced by another connection",
  logged_out: "Unlinked from the phone",
  connection_lost: "Connection lost; reconnecting",
  connector_lost: "Its connector stopped; reconnecting",
  qr_timeout: "Nobody scanned the QR code in time",
};

/** A session's status reason in words (the code itself when it has none). */
export function reasonLabel(reason) {
  return REASONS[reason] ?? reason;
}

// Account health (GET /v1/sessions/{id}/health): risk levels as the dashboard shows them.
const RISK = {
  ok: { label: "Healthy", tone: "ok" },
  elevated: { label: "At risk", tone: "wait" },
  high: { label: "High ban risk", tone: "bad" },
};

/** How a risk level looks: its label and tone. */
export function riskLevel(risk) {
  return RISK[risk] ?? { label: risk ?? "Unknown", tone: "off" };
}

export const PROVIDERS = {
  web: "WhatsApp (QR)",
  cloud: "Cloud API",
  sandbox: "Sandbox",
};

export function sessionStatus(status) {
  return SESSION_STATUS[status] ?? { label: status ?? "Unknown", tone: "off" };
}

/** Session states in which a QR code is (or is about to be) on offer. */
export function waitsForScan(session) {
  return session.provider !== "cloud" && ["pending", "qr", "connecting"].includes(session.status);
}

// Outbound messages move forward only; a late event never moves a tick back.
const RANK = { scheduled: 0, queued: 1, sending: 2, sent: 3, delivered: 4, read: 5, failed: 6, cancelled: 6 };

/** The later of two outbound statuses (unknown ones never win). */
export function laterStatus(current, incoming) {
  if (!(incoming in RANK)) return current;
  if (!(current in RANK)) return incoming;
  return RANK[incoming] > RANK[current] ? incoming : current;
}

/** What a message's delivery mark looks like: its icon, its spoken label, its style. */
export function tick(status) {
  switch (status) {
    case "scheduled":
      return { icon: "clock", label: "Scheduled", tone: "wait" };
    case "queued":
    case "sending":
      return { icon: "clock", label: "Sending", tone: "wait" };
    case "sent":
      return { icon: "check", label: "Sent", tone: "sent" };
    case "delivered":
      return { icon: "checks", label: "Delivered", tone: "delivered" };
    case "read":
      return { icon: "checks", label: "Read", tone: "read" };
    case "failed":
      return { icon: "alert", label: "Failed", tone: "bad" };
    case "cancelled":
      return { icon: "cancelled", label: "Cancelled", tone: "off" };
    default:
      return null;
  }
}

const timeOnly = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateTime = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});
const full = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** Epoch seconds → "14:05" today, "Nov 21, 14:05" otherwise. */
export function shortTime(seconds, now = new Date()) {
  if (!seconds) return "";
  const date = new Date(seconds * 1000);
  const sameDay = date.toDateString() === now.toDateString();
  return sameDay ? timeOnly.format(date) : dateTime.format(date);
}

export function fullTime(seconds) {
  return seconds ? full.format(new Date(seconds * 1000)) : "";
}

/** An ISO timestamp (as socket events carry) → epoch seconds. */
export function epoch(iso) {
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms / 1000 : Date.now() / 1000;
}

/** A `datetime-local` input's value (the user's zone) → epoch seconds, or null. */
export function localInputToEpoch(value) {
  if (!value) return null;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? Math.round(ms / 1000) : null;
}

/** Epoch seconds → a `datetime-local` value in the user's zone. */
export function epochToLocalInput(seconds) {
  const date = new Date(seconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

/** The peer of a conversation as people read it: its name, else the number, else the group id. */
export function peerName(conversation) {
  return conversation.name || conversation.chat;
}

// Kinds that carry a file: the chat shows the file itself (a preview, a player, a link) and its caption.
export const MEDIA_KINDS = new Set(["image", "video", "audio", "document", "sticker"]);

/** A message's visible text, whatever its kind (for a file: its caption, the file is shown apart). */
export function messageText(message) {
  const content = message.content;
  if (content && MEDIA_KINDS.has(content.type)) return content.caption ?? "";
  if (message.text) return message.text;
  if (message.template?.name) return `Template: ${message.template.name}`;
  if (message.media) return message.media.caption ?? "";
  return "";
}

/** Bytes → "820 B", "14 KB", "2.4 MB". */
export function fileSize(bytes) {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "";
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1000 * 1000) return `${Math.round(bytes / 1000)} KB`;
  return `${(bytes / 1000 / 1000).toFixed(1)} MB`;
}

/** Seconds → "0:07", "12:30", "1:02:03". */
export function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  const s = Math.round(seconds);
  const pad = (n) => String(n).padStart(2, "0");
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  return hours ? `${hours}:${pad(minutes)}:${pad(s % 60)}` : `${minutes}:${pad(s % 60)}`;
}
