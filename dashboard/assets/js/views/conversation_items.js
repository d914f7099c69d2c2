// How the inbox and the chat draw their items (no state: everything comes in as arguments).

import { h } from "../dom.js";
import { fullTime, messageText, peerName, shortTime, tick } from "../format.js";
import { icon } from "../icons.js";
import { mediaView } from "./media_view.js";

// Kinds that change another message: shown on that message (a reaction under it, "edited", "deleted").
export const CHANGE_KINDS = new Set(["reaction", "edit", "delete"]);

/** One row of the inbox: a link that opens the chat. */
export function conversationItem(c, sessionId, openId) {
  const outbound = c.last_direction === "outbound";
  return h(
    "li",
    {},
    h(
      "a",
      {
        class: "conversation",
        href: `#/conversations/${encodeURIComponent(sessionId)}/${encodeURIComponent(c.id)}`,
        "aria-current": c.id === openId ? "true" : null,
        dataset: { conversationId: c.id },
      },
      h("span", { class: "avatar", "aria-hidden": "true" }, c.name ? c.name[0].toUpperCase() : icon(c.is_group ? "group" : "person")),
      h(
        "span",
        { class: "conversation-main" },
        h("span", { class: "conversation-name" }, peerName(c)),
        h("span", { class: "conversation-preview" }, outbound ? "You: " : "", c.last_message_preview ?? ""),
      ),
      h(
        "span",
        { class: "conversation-meta" },
        h("time", { title: fullTime(c.last_message_at) }, shortTime(c.last_message_at)),
        c.unread > 0
          ? h("span", { class: "unread", "aria-label": `${c.unread} unread` }, String(c.unread))
          : null,
      ),
    ),
  );
}

/** One message of the chat: its file (if any), text, time and, if ours, its delivery mark. */
export function messageItem(m, api) {
  const outbound = m.direction === "outbound";
  const text = m.deleted_at || m.content?.type === "reaction" ? null : messageText(m);
  const mark = outbound ? tick(m.status) : null;
  const when = m.status === "scheduled" && m.scheduled_at ? m.scheduled_at : m.created_at;
  return h(
    "li",
    { class: `message ${outbound ? "out" : "in"}`, dataset: { messageId: m.id, status: m.status } },
    h(
      "div",
      { class: "bubble" },
      h("span", { class: "visually-hidden" }, outbound ? "You: " : `${m.metadata?.push_name ?? m.from ?? "They"}: `),
      m.deleted_at ? h("p", { class: "message-text message-deleted" }, "This message was deleted") : null,
      m.deleted_at ? null : (mediaView(api, m.id, m.content) ?? linkedFile(m.media)),
      text ? h("p", { class: "message-text" }, text) : null,
      m.deleted_at ? null : contentDetail(m.content),
      m.status === "failed" && m.error ? h("p", { class: "message-error" }, `Not sent: ${m.error.message}`) : null,
      h(
        "p",
        { class: "message-meta" },
        m.edited_at && !m.deleted_at ? h("span", { class: "message-edited", title: `Edited ${fullTime(m.edited_at)}` }, "edited · ") : null,
        m.status === "scheduled" ? "Scheduled for " : "",
        h("time", { title: fullTime(when) }, shortTime(when)),
        mark
          ? h("span", { class: `tick tone-${mark.tone}`, role: "img", "aria-label": mark.label, title: mark.label, dataset: { status: m.status } }, icon(mark.icon))
          : null,
      ),
      reactionRow(m),
    ),
  );
}

/** A file sent by URL (Cloud API, sandbox): a link to that URL, which is the CRM's own (never WhatsApp's). */
function linkedFile(media) {
  const url = media?.url;
  if (typeof url !== "string" || !/^https?:\/\//i.test(url)) return null;
  const name = media.filename || url.split("?")[0].split("/").pop() || "file";
  return h(
    "p",
    { class: "media media-url" },
    h("a", { class: "media-file", href: url, target: "_blank", rel: "noopener noreferrer" }, `📎 ${name}`, media.mime ? ` (${media.mime})` : ""),
  );
}

/** What a typed kind shows besides its text (README: Content model): a map link, cards, options. */
function contentDetail(content) {
  if (!content) return null;
  if (content.type === "location") {
    const where = `${content.latitude},${content.longitude}`;
    return h(
      "p",
      { class: "message-detail" },
      h("a", { href: `https://www.openstreetmap.org/?mlat=${content.latitude}&mlon=${content.longitude}`, target: "_blank", rel: "noopener" }, `Map: ${where}`),
      content.live ? " (live)" : "",
    );
  }
  if (content.type === "contacts") {
    return h(
      "ul",
      { class: "message-detail contact-cards" },
      ...content.contacts.map((card) => h("li", {}, `${card.name} ${(card.phones ?? []).map((p) => p.phone).join(", ")}`.trim())),
    );
  }
  if (content.type === "poll") {
    return h("ol", { class: "message-detail poll-options" }, ...content.options.map((option) => h("li", {}, option)));
  }
  if (content.type === "interactive" && content.buttons) {
    return h("p", { class: "message-detail" }, content.buttons.map((b) => `[${b.title}]`).join(" "));
  }
  if (CHANGE_KINDS.has(content.type)) {
    // Shown only when the message it changes is not on screen (an older page): say what it did.
    const what = {
      reaction: content.emoji ? `Reacted ${content.emoji} to a message` : "Took back a reaction",
      edit: "Edited a message",
      delete: "Deleted a message",
    }[content.type];
    return h("p", { class: "message-detail message-change" }, what);
  }
  if (content.type === "unsupported") {
    return h("p", { class: "message-detail" }, `Unsupported message (${content.raw_type})`);
  }
  return null;
}

/** The reactions on a message, one per person. */
function reactionRow(m) {
  const marks = (m.reactions ?? []).filter((r) => r.emoji);
  if (!marks.length) return null;
  return h(
    "p",
    { class: "reactions", "aria-label": `Reactions: ${marks.map((r) => r.emoji).join(" ")}` },
    ...marks.map((r) => h("span", { class: "reaction", title: r.from }, r.emoji)),
  );
}

export function sandboxBadge() {
  return h("span", { class: "badge badge-sandbox", title: "Simulated: nothing reaches real WhatsApp" }, "sandbox");
}
