// Where the API and the dashboard socket are: from an optional config.json beside index.html, else the
// page's own origin (wagate serve, or CloudFront forwarding /v1/* to the API) and the URL the API hands
// out with each realtime token.

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

/** {apiBaseUrl, socketUrl|null}. A missing or unreadable config.json means "use the defaults". */
export async function loadConfig(location = window.location, fetchImpl = fetch) {
  let config = {};
  try {
    const response = await fetchImpl(new URL("config.json", location.href), { cache: "no-store" });
    if (response.ok) config = await response.json();
  } catch {
    config = {};
  }
  return resolveConfig(config, location);
}

export function resolveConfig(config, location) {
  const api = typeof config?.apiBaseUrl === "string" && config.apiBaseUrl.trim();
  const socket = typeof config?.socketUrl === "string" && config.socketUrl.trim();
  return {
    apiBaseUrl: api ? api.replace(/\/+$/, "") : location.origin,
    socketUrl: socket || null,
  };
}

/**
 * The socket to open: config.json's, else the one the token came with, else `/ws` at the API's host.
 * A server that only knows itself as 127.0.0.1 (wagate serve on 0.0.0.0) hands out a loopback URL; a
 * page loaded from another host, talking to the API at its own origin, reaches the socket there too.
 */
export function socketUrlFor(config, tokenUrl, location) {
  if (config.socketUrl) return config.socketUrl;
  const api = new URL(config.apiBaseUrl);
  if (!tokenUrl) {
    const scheme = api.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${api.host}/ws`;
  }
  const url = new URL(tokenUrl);
  const sameOrigin = api.origin === location.origin;
  if (sameOrigin && LOOPBACK.has(url.hostname) && !LOOPBACK.has(location.hostname)) {
    url.host = location.host;
  }
  return url.toString();
}
