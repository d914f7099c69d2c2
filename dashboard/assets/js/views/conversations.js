// Conversations: per account, the inbox (unread counts, last message) and a chat with its history
// (paged back with "Load older"), live incoming messages and delivery ticks that move as receipts arrive.

import { announce, focusElement, h, replace } from "../dom.js";
import { epoch, fullTime, laterStatus, peerName } from "../format.js";
import { showError, showInfo } from "../notices.js";
import { createComposer } from "./composer.js";
import { CHANGE_KINDS, conversationItem, messageItem, sandboxBadge } from "./conversation_items.js";

const NEAR_BOTTOM_PX = 80;

/** An event's typed content, with the file's fresh link (the event's `media`) in it. */
function typedContent(data) {
  const content = data.content_object ?? null;
  if (!content || !data.media) return content;
  return { ...content, media: { ...content.media, ...data.media } };
}

export function mount(root, ctx) {
  const { api, live, sessions, navigate } = ctx;
  const state = {
    sessionId: null,
    conversationId: undefined, // null: none open; "new": writing to someone not in the inbox yet
    conversations: new Map(),
    listCursor: null,
    messages: new Map(), // of the open conversation
    historyCursor: null,
    statuses: new Map(), // message id → latest status seen on the socket (may come before the row)
    askedWhy: new Set(), // failed messages whose reason was fetched
    listSeq: 0,
    chatSeq: 0,
    routeSeq: 0,
  };

  // ---- layout ----
  const accountSelect = h("select", { id: "account-select", name: "account" });
  const newLink = h("a", { class: "button small", href: "#" }, "New message");
  const list = h("ul", { class: "conversation-list", "aria-label": "Conversations" });
  const moreConversations = h("button", { type: "button", class: "button ghost small", hidden: true }, "Load more");
  const listEmpty = h("p", { class: "empty muted", hidden: true }, "No conversations on this account yet.");
  const listPane = h(
    "section",
    { class: "inbox-list", "aria-labelledby": "conversations-title" },
    h("div", { class: "page-head" }, h("h1", { id: "conversations-title" }, "Conversations"), newLink),
    h("div", { class: "field" }, h("label", { for: accountSelect.id }, "Account"), accountSelect),
    listEmpty,
    list,
    moreConversations,
  );

  const chatTitle = h("h2", { class: "chat-title", id: "chat-title", tabindex: "-1" });
  const chatSubtitle = h("p", { class: "chat-subtitle muted" });
  const back = h("a", { class: "back-link", href: "#" }, "← All conversations");
  const older = h("button", { type: "button", class: "button ghost small load-older", hidden: true }, "Load older messages");
  const messageList = h("ol", { class: "messages" });
  // Focusable, so the keyboard can scroll it.
  const history = h("div", { class: "history", role: "log", "aria-label": "Messages", tabindex: "0" }, older, messageList);
  const composer = createComposer({
    api,
    target: () => {
      if (!state.sessionId || !state.conversationId) return null;
      const open = state.conversations.get(state.conversationId);
      return { sessionId: state.sessionId, to: state.conversationId === "new" ? null : open?.chat ?? null };
    },
    send: sendMessage,
  });
  const chatPlaceholder = h("div", { class: "chat-placeholder muted" }, h("p", {}, "Choose a conversation, or start a new message."));
  const chatPane = h(
    "section",
    { class: "inbox-chat", "aria-labelledby": "chat-title" },
    // On a phone the inbox (and its h1) is hidden while a chat is open: the page keeps a title.
    h("h1", { class: "chat-page-title" }, "Conversations"),
    h("header", { class: "chat-head" }, back, chatTitle, chatSubtitle),
    history,
    composer.element,
  );
  const inbox = h("div", { class: "inbox" }, listPane, chatPane, chatPlaceholder);
  const noAccounts = h(
    "div",
    { class: "empty" },
    h("h1", {}, "Conversations"),
    h("p", {}, "There is no account yet. "),
    h("a", { href: "#/accounts", class: "button primary" }, "Add an account"),
  );

  // ---- the inbox ----
  const renderAccounts = () => {
    const all = sessions.list();
    replace(
      accountSelect,
      all.map((s) =>
        h("option", { value: s.id, selected: s.id === state.sessionId }, `${s.name}${s.provider === "sandbox" ? " (sandbox)" : ""}${s.phone ? ` · ${s.phone}` : ""}`),
      ),
    );
  };

  const loadConversations = async ({ append = false } = {}) => {
    const seq = ++state.listSeq;
    const sessionId = state.sessionId;
    try {
      const page = await api.conversations(sessionId, append ? state.listCursor : null);
      if (seq !== state.listSeq) return; // the account changed meanwhile
      if (!append) state.conversations = new Map();
      for (const c of page.items) state.conversations.set(c.id, c);
      state.listCursor = page.cursor;
      renderList();
    } catch (error) {
      showError(error);
    }
  };

  const renderList = () => {
    const items = [...state.conversations.values()].sort((a, b) => (b.last_message_at ?? 0) - (a.last_message_at ?? 0));
    const focusedId = list.contains(document.activeElement) ? document.activeElement.dataset.conversationId : null;
    replace(list, items.map((c) => conversationItem(c, state.sessionId, state.conversationId)));
    if (focusedId) list.querySelector(`[data-conversation-id="${focusedId}"]`)?.focus();
    listEmpty.hidden = items.length > 0;
    moreConversations.hidden = !state.listCursor;
  };

  // ---- the chat ----
  const openChat = async (conversationId) => {
    const seq = ++state.chatSeq;
    state.conversationId = conversationId;
    state.messages = new Map();
    state.historyCursor = null;
    replace(messageList);
    older.hidden = true;
    inbox.dataset.open = conversationId ? "chat" : "list";
    chatPane.hidden = !conversationId;
    chatPlaceholder.hidden = Boolean(conversationId);
    back.href = `#/conversations/${encodeURIComponent(state.sessionId)}`;
    renderList();
    if (!conversationId) return;
    const session = sessions.get(state.sessionId);
    const sandbox = session?.provider === "sandbox";
    composer.setNewConversation(conversationId === "new");
    if (conversationId === "new") {
      chatTitle.textContent = "New message";
      replace(chatSubtitle, `From ${session?.name ?? "this account"}`, sandbox ? sandboxBadge() : null);
      history.hidden = true;
      composer.focus();
      return;
    }
    history.hidden = false;
    let conversation = state.conversations.get(conversationId);
    try {
      conversation ??= await api.conversation(conversationId);
      if (seq !== state.chatSeq) return;
      state.conversations.set(conversation.id, conversation);
      renderChatHead();
      await loadHistory({ seq });
    } catch (error) {
      showError(error);
      return;
    }
    focusElement(chatTitle);
    scrollToBottom();
    if (conversation.unread > 0) markRead(conversation.id);
  };

  const renderChatHead = () => {
    const open = state.conversations.get(state.conversationId);
    if (!open) return;
    const sandbox = sessions.get(state.sessionId)?.provider === "sandbox";
    chatTitle.textContent = peerName(open);
    replace(chatSubtitle, open.name ? open.chat : "", sandbox ? sandboxBadge() : null);
  };

  const loadHistory = async ({ seq = state.chatSeq, older: paging = false } = {}) => {
    const page = await api.conversationMessages(state.conversationId, paging ? state.historyCursor : null);
    if (seq !== state.chatSeq) return;
    for (const message of page.items) upsertMessage(message, { render: false });
    state.historyCursor = page.cursor;
    renderHistory();
  };

  const upsertMessage = (message, { render = true } = {}) => {
    const known = state.messages.get(message.id);
    const merged = { ...known, ...message };
    if (merged.direction === "outbound") {
      merged.status = laterStatus(known?.status ?? message.status, message.status);
      merged.status = laterStatus(merged.status, state.statuses.get(message.id));
    }
    state.messages.set(message.id, merged);
    if (merged.status === "failed" && !merged.error && !state.askedWhy.has(merged.id)) {
      // The event says that it failed; the message itself says why.
      state.askedWhy.add(merged.id);
      api.message(merged.id).then((full) => upsertMessage(full), () => {});
    }
    if (render) renderHistory();
  };

  const renderHistory = () => {
    const ordered = [...state.messages.values()]
      .filter((m) => !changesShownMessage(m))
      .sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1));
    replace(messageList, ordered.map((m) => messageItem(m, api)));
    older.hidden = !state.historyCursor;
  };

  // A reaction, edit or delete is shown on the message it changes when that one is on screen.
  const changesShownMessage = (m) => CHANGE_KINDS.has(m.content?.type) && state.messages.has(m.content.target_id);

  /** A reaction, edit or delete arrived: the message it changes is read again (it carries the change). */
  const refreshTarget = (content) => {
    const target = CHANGE_KINDS.has(content?.type) ? content.target_id : null;
    if (!target || !state.messages.has(target)) return;
    api.message(target).then((full) => upsertMessage(full), () => {});
  };

  const nearBottom = () => history.scrollHeight - history.scrollTop - history.clientHeight < NEAR_BOTTOM_PX;
  const scrollToBottom = () => {
    history.scrollTop = history.scrollHeight;
  };

  const markRead = async (conversationId) => {
    try {
      const updated = await api.markRead(conversationId);
      state.conversations.set(updated.id, { ...state.conversations.get(updated.id), ...updated, unread: 0 });
      renderList();
    } catch (error) {
      showError(error);
    }
  };

  async function sendMessage(body) {
    const message = await api.sendMessage(body);
    if (message.status === "scheduled") {
      showInfo(`Scheduled for ${fullTime(message.scheduled_at)}. It is listed under Scheduled.`);
    }
    if (state.conversationId === "new") {
      const from = window.location.hash;
      // Its own request (the list may be reloading for the socket's sake): the newest comes first.
      const recent = await api.conversations(state.sessionId);
      const found = recent.items.find((c) => c.chat === message.chat);
      if (found) state.conversations.set(found.id, found);
      // Only if the user is still here: a late answer must not pull them back from another page.
      if (found && window.location.hash === from) {
        navigate(`#/conversations/${encodeURIComponent(state.sessionId)}/${encodeURIComponent(found.id)}`);
      }
      return;
    }
    upsertMessage(message);
    scrollToBottom();
  }

  // ---- live events ----
  const onIncoming = (data) => {
    if (data.session_id !== state.sessionId) return;
    const existing = state.conversations.get(data.conversation_id);
    const open = data.conversation_id === state.conversationId;
    if (!existing) {
      loadConversations();
    } else {
      existing.last_message_preview = data.content;
      existing.last_message_at = epoch(data.timestamp);
      existing.last_direction = "inbound";
      existing.unread = open ? 0 : (existing.unread ?? 0) + 1;
      existing.name ??= data.metadata?.push_name ?? null; // their WhatsApp name, first seen now
      renderList();
      if (open) renderChatHead();
    }
    if (!open) {
      announce(`New message from ${existing ? peerName(existing) : data.from}`);
      return;
    }
    const stick = nearBottom();
    upsertMessage({
      id: data.message_id,
      direction: "inbound",
      from: data.from,
      chat: existing?.chat ?? data.from,
      text: data.content,
      kind: data.kind,
      content: typedContent(data),
      status: "received",
      metadata: data.metadata ?? {},
      created_at: epoch(data.timestamp),
    });
    refreshTarget(data.content_object);
    if (stick) scrollToBottom();
    if (document.visibilityState === "visible") markRead(data.conversation_id);
  };

  const onOutbound = (status) => (data) => {
    const next = status ?? data.status;
    state.statuses.set(data.message_id, laterStatus(state.statuses.get(data.message_id), next));
    if (data.session_id !== state.sessionId) return;
    if (status === "sent") {
      const listed = state.conversations.get(data.conversation_id);
      if (!listed) loadConversations(); // a conversation started elsewhere (the CRM, another dashboard)
      else if (data.content && data.message_id > (listed.last_message_id ?? "")) {
        // Ids sort by creation: a newer message than the one the row shows (sent from elsewhere).
        Object.assign(listed, {
          last_message_id: data.message_id,
          last_message_preview: data.content,
          last_direction: "outbound",
          last_message_at: epoch(data.timestamp),
        });
        renderList();
      }
    }
    if (data.conversation_id !== state.conversationId) return;
    if (state.messages.has(data.message_id)) {
      upsertMessage({ id: data.message_id, status: next });
    } else if (status === "sent") {
      // Sent from elsewhere (the CRM, another dashboard): show it too.
      upsertMessage({
        id: data.message_id,
        direction: "outbound",
        to: data.to,
        text: data.content,
        kind: data.kind,
        content: typedContent(data),
        status: next,
        metadata: data.metadata ?? {},
        created_at: epoch(data.timestamp),
      });
      scrollToBottom();
    }
    // Our reaction, edit or delete changes its target once WhatsApp took it.
    if (status === "sent") refreshTarget(data.content_object);
  };

  // ---- files dropped on the chat ----
  let dragDepth = 0;
  const dragHasFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes("Files");
  chatPane.addEventListener("dragenter", (event) => {
    if (!dragHasFiles(event) || !state.conversationId) return;
    event.preventDefault();
    dragDepth += 1;
    chatPane.dataset.dropping = "true";
  });
  chatPane.addEventListener("dragover", (event) => {
    if (!dragHasFiles(event) || !state.conversationId) return;
    event.preventDefault(); // without it the browser opens the file instead of dropping it here
    event.dataTransfer.dropEffect = "copy";
  });
  chatPane.addEventListener("dragleave", () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) delete chatPane.dataset.dropping;
  });
  chatPane.addEventListener("drop", (event) => {
    dragDepth = 0;
    delete chatPane.dataset.dropping;
    if (!dragHasFiles(event) || !state.conversationId) return;
    event.preventDefault();
    const [file] = event.dataTransfer.files;
    if (file) composer.attach(file);
  });

  // ---- routing inside the view ----
  const update = async (params) => {
    const seq = ++state.routeSeq; // a newer route (the user clicked on) wins over this one's awaits
    await sessions.ensureLoaded().catch(showError);
    if (seq !== state.routeSeq) return;
    const all = sessions.list();
    if (!all.length) {
      root.replaceChildren(noAccounts);
      return;
    }
    const [sessionParam = null, conversationParam = null] = params;
    const sessionId = sessions.get(sessionParam)
      ? sessionParam
      : (all.find((s) => s.status === "connected") ?? all[0]).id;
    if (sessionId !== state.sessionId) {
      state.sessionId = sessionId;
      state.conversations = new Map();
      state.listCursor = null;
      renderAccounts();
      newLink.href = `#/conversations/${encodeURIComponent(sessionId)}/new`;
      if (!inbox.isConnected) root.replaceChildren(inbox); // only now: every link in it goes somewhere
      await loadConversations();
      if (seq !== state.routeSeq) return;
    }
    if (!inbox.isConnected) root.replaceChildren(inbox);
    if (conversationParam !== state.conversationId) await openChat(conversationParam);
    if (!root.contains(document.activeElement)) focusElement(root.querySelector("h1"));
  };

  accountSelect.addEventListener("change", () => navigate(`#/conversations/${encodeURIComponent(accountSelect.value)}`));
  moreConversations.addEventListener("click", () => loadConversations({ append: true }));
  older.addEventListener("click", async () => {
    const before = history.scrollHeight;
    try {
      await loadHistory({ older: true });
    } catch (error) {
      showError(error);
      return;
    }
    history.scrollTop += history.scrollHeight - before; // keep the message that was on screen in place
    if (older.hidden) focusElement(history);
  });

  const cleanups = [
    live.on("incoming_message", onIncoming),
    live.on("message_sent", onOutbound("sent")),
    live.on("message_status", onOutbound(null)),
    live.on("ready", ({ reconnected }) => {
      if (!reconnected || !state.sessionId) return;
      loadConversations();
      if (state.conversationId && state.conversationId !== "new") loadHistory().catch(() => {});
    }),
    sessions.subscribe(() => inbox.isConnected && renderAccounts()),
  ];
  root.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  update(ctx.params);
  return {
    update,
    unmount() {
      cleanups.forEach((cleanup) => cleanup());
    },
  };
}
