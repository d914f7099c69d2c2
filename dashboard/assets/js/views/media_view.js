// A message's file in the chat: an image or sticker shown, a video or voice note played, a document opened,
// always through the short-lived signed link `GET /v1/media/{id}` answers (never a WhatsApp URL). The small
// preview WhatsApp sent inside the message (`media.thumbnail`, a data: URL) shows until the file is opened.

import { h } from "../dom.js";
import { duration, fileSize } from "../format.js";
import { showError } from "../notices.js";

const LINK_MARGIN_S = 60; // a link this close to expiry is asked for again
const KEEP_VIEWS = 400;

// Links by media id ({url, expires}), and the element drawn for each (message, file): the chat redraws
// its list on every tick, and a video that is playing must stay the same element to keep playing.
const links = new Map();
const views = new Map();

/** A fresh link to a stored file (the API's, or one the message already carried that is still good). */
export async function linkFor(api, media) {
  const now = Date.now() / 1000;
  const known = links.get(media.id);
  if (known && known.expires - LINK_MARGIN_S > now) return known.url;
  if (media.url && media.url_expires_at && media.url_expires_at - LINK_MARGIN_S > now && !media.url.startsWith("cloud-media:")) {
    links.set(media.id, { url: media.url, expires: media.url_expires_at });
    return media.url;
  }
  const fresh = await api.media(media.id);
  links.set(media.id, { url: fresh.url, expires: fresh.url_expires_at ?? now + 300 });
  return fresh.url;
}

/** The element for a message's file (the same one on every redraw), or null when it has none. */
export function mediaView(api, messageId, content) {
  const media = content?.media;
  if (!media) return null;
  const key = `${messageId}|${media.id ?? ""}`;
  let view = views.get(key);
  if (!view) {
    if (views.size > KEEP_VIEWS) views.clear();
    view = draw(api, content, media);
    views.set(key, view);
  }
  return view;
}

function describe(content, media) {
  const parts = [];
  if (media.duration) parts.push(duration(media.duration));
  if (media.size) parts.push(fileSize(media.size));
  return parts.join(" · ");
}

function kindOf(content, media) {
  return content.type ?? media.kind;
}

function draw(api, content, media) {
  const kind = kindOf(content, media);
  const stored = Boolean(media.id);
  const about = describe(content, media);
  const box = h("div", { class: `media media-${kind}`, dataset: { mediaId: media.id ?? "", kind } });
  if (!stored) {
    box.append(h("p", { class: "media-missing" }, `${label(kind, content, media)} (not available: the file could not be fetched)`));
    return box;
  }
  if (kind === "image" || kind === "sticker") {
    const alt = content.caption || media.filename || (kind === "sticker" ? "Sticker" : "Image");
    const img = h("img", { alt, loading: "lazy", decoding: "async", src: preview(media) });
    if (img.getAttribute("src")) box.dataset.preview = "true"; // blurred until the file itself is in
    const open = h("button", { type: "button", class: "media-open", "aria-label": `Open ${kind} ${about}`.trim() }, img);
    box.append(open);
    box.dataset.state = "loading";
    linkFor(api, media).then(
      (url) => {
        img.addEventListener(
          "load",
          () => {
            box.dataset.state = "shown";
            delete box.dataset.preview;
          },
          { once: true },
        );
        img.src = url;
        img.addEventListener("error", () => (box.dataset.state = "failed"), { once: true });
      },
      () => (box.dataset.state = "failed"),
    );
    open.addEventListener("click", () => openInTab(api, media));
    return box;
  }
  if (kind === "video" || kind === "audio") {
    const voice = kind === "audio" && (content.voice || media.voice);
    const what = voice ? "Voice message" : kind === "video" ? (content.gif ? "GIF" : "Video") : "Audio";
    const poster = preview(media);
    const play = h(
      "button",
      { type: "button", class: "media-play" },
      poster ? h("img", { class: "media-poster", src: poster, alt: "" }) : null,
      h("span", {}, `▶ Play ${what.toLowerCase()}`, about ? ` (${about})` : ""),
    );
    box.append(play);
    play.addEventListener("click", async () => {
      play.disabled = true;
      try {
        const url = await linkFor(api, media);
        const player = h(kind, { controls: true, src: url, preload: "metadata", poster, "aria-label": what });
        if (kind === "video" && content.gif) Object.assign(player, { loop: true, muted: true });
        box.replaceChildren(player);
        box.dataset.state = "playing";
        await player.play().catch(() => {}); // autoplay may be refused: the controls are there
      } catch (error) {
        play.disabled = false;
        showError(error);
      }
    });
    return box;
  }
  // A document (or anything else with a file): its name, type and size; opened in a new tab.
  const name = media.filename || content.filename || "Document";
  const link = h(
    "a",
    { href: "#", class: "media-file", rel: "noopener" },
    h("span", { class: "media-file-name" }, `📄 ${name}`),
    h("span", { class: "media-file-about muted" }, [shortType(media.mime), about].filter(Boolean).join(" · ")),
  );
  link.addEventListener("click", (event) => {
    event.preventDefault();
    openInTab(api, media);
  });
  box.append(link);
  return box;
}

/** WhatsApp's in-message preview, only ever as a JPEG data: URL (anything else is not shown). */
function preview(media) {
  const thumbnail = media.thumbnail;
  return typeof thumbnail === "string" && thumbnail.startsWith("data:image/jpeg;base64,") ? thumbnail : null;
}

function label(kind, content, media) {
  const name = media.filename || content.filename;
  return { image: "Image", video: "Video", audio: content.voice ? "Voice message" : "Audio", sticker: "Sticker" }[kind] ?? `Document${name ? ` ${name}` : ""}`;
}

function shortType(mime) {
  if (!mime) return "";
  const known = { "application/pdf": "PDF", "text/plain": "Text", "application/zip": "ZIP" };
  return known[mime] ?? mime.split("/").pop().toUpperCase().slice(0, 12);
}

/** Opens the file in a new tab (asked for while the click still counts as the user's, so it is no pop-up). */
async function openInTab(api, media) {
  const tab = window.open("", "_blank");
  try {
    const url = await linkFor(api, media);
    if (!tab) {
      showError("The browser blocked the new tab: allow pop-ups for this page to open files.");
      return;
    }
    tab.opener = null;
    tab.location.href = url;
  } catch (error) {
    tab?.close();
    showError(error);
  }
}
