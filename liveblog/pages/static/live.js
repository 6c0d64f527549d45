/* liveblog: keeps the server-rendered live page current without a reload.
 *
 * The page works without this script. With it, every change of the conference arrives
 * as EntryUpdates (one renderer on the server: the same <article> HTML the page holds):
 * from the Server-Sent Events stream of `liveblog serve`, or, on plain static hosting
 * where there is no stream, by polling live.json with If-None-Match. Each update is
 * applied in place: a new entry inserted in order, a changed one replaced in its slot,
 * the pinned one moved into #pinned and back, a retracted one replaced by a notice.
 * A reader scrolled down is not moved: new entries wait behind "N new entries".
 * body[data-liveblog-state] says which mode is on ("stream", "polling", ...).
 */
(() => {
  "use strict";

  const dataNode = document.getElementById("liveblog-data");
  const entries = document.getElementById("entries");
  if (!dataNode || !entries) return;
  let config;
  try {
    config = JSON.parse(dataNode.textContent || "{}");
  } catch (error) {
    return; // unreadable page data: the page stays as served
  }

  const seconds = (value, fallback) =>
    typeof value === "number" && value > 0 ? value : fallback;
  let position = Number(config.position) || 0; // the log position the page reads as of
  let pollInterval = seconds(config.poll_interval, 15);
  const pending = new Map(); // new entries held back while the reader is scrolled down

  const setState = (state) => {
    document.body.dataset.liveblogState = state;
  };

  // -- where things go ---------------------------------------------------------------

  const box = (id, before) => {
    let found = document.getElementById(id);
    if (!found) {
      found = document.createElement("section");
      found.id = id;
      found.hidden = true;
      before.before(found);
    }
    return found;
  };
  const pinnedBox = () => box("pinned", entries);
  const momentsBox = () => box("key-moments", entries);

  const parseTime = (text) => Date.parse(String(text || "").replace(/(\.\d{3})\d+/, "$1"));

  /* Newest first by (time, position): the entry's instant is its data-at, else its
   * first <time datetime>. */
  const keyOf = (article) => {
    const time = article.querySelector("time[datetime]");
    const at = article.dataset.at || (time ? time.getAttribute("datetime") : "");
    const ms = parseTime(at);
    return [Number.isNaN(ms) ? 0 : ms, Number(article.dataset.position) || 0];
  };
  const newer = (a, b) => a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);

  const daySection = (day) => {
    const sections = [...entries.querySelectorAll("[data-day]:not(article)")];
    if (day === null || day === undefined || sections.length === 0) return entries;
    const found = sections.find((s) => s.dataset.day === String(day));
    if (found) return found;
    // A day opened since the page was served (the next publish renders it in full).
    const made = document.createElement("section");
    made.className = "day";
    made.id = `day-${day}`;
    made.dataset.day = String(day);
    made.setAttribute("aria-label", `Day ${day}`);
    const heading = document.createElement("h2");
    heading.textContent = `Day ${day}`;
    made.append(heading);
    const later = sections.find((s) => Number(s.dataset.day) < Number(day));
    if (later) later.before(made);
    else sections[sections.length - 1].after(made);
    return made;
  };

  /* Insert `article` among the entries, in its day, newest first. */
  const place = (article, day) => {
    const container = daySection(day);
    const key = keyOf(article);
    const others = [...container.querySelectorAll("article.entry")];
    const older = others.find((other) => newer(key, keyOf(other)));
    if (older) older.before(article);
    else if (others.length) others[others.length - 1].after(article);
    else container.append(article);
  };

  const build = (update) => {
    const template = document.createElement("template");
    template.innerHTML = String(update.html || "");
    return template.content.querySelector("article.entry");
  };

  /* An empty pinned slot or key-moments list is hidden (with its heading, when the
   * list sits in a .key-moments section of its own). */
  const refreshBoxes = () => {
    const pinned = pinnedBox();
    pinned.hidden = !pinned.querySelector("article.entry, .retracted-notice");
    const moments = momentsBox();
    (moments.closest(".key-moments") || moments).hidden = !moments.querySelector("a");
  };

  // -- key moments -------------------------------------------------------------------

  const momentsList = () => {
    const moments = momentsBox();
    if (moments.matches("ol, ul")) return moments;
    let list = moments.querySelector("ol, ul");
    if (!list) {
      if (!moments.querySelector("h2")) {
        const heading = document.createElement("h2");
        heading.textContent = "Key moments";
        moments.append(heading);
      }
      list = document.createElement("ol");
      moments.append(list);
    }
    return list;
  };

  const momentLink = (id) =>
    [...momentsBox().querySelectorAll("a")].find(
      (a) => a.getAttribute("href") === `#entry-${id}`,
    );

  /* A key moment without a label is named by the start of the entry's own words. */
  const gist = (article) => {
    const copy = article.cloneNode(true);
    const asides = copy.querySelectorAll(".meta, .context, .corrected, details");
    for (const aside of asides) aside.remove();
    const words = (copy.textContent || "").replace(/\s+/g, " ").trim();
    return words.length > 80 ? `${words.slice(0, 79)}…` : words || "Key moment";
  };

  const dropMoment = (id) => {
    const link = momentLink(id);
    if (link) (link.closest("li") || link).remove();
  };

  const keepMoment = (update, article) => {
    if (!update.key_moment || update.retracted) {
      dropMoment(update.id);
      return;
    }
    const text = update.key_moment.label || gist(article);
    const existing = momentLink(update.id);
    if (existing) {
      existing.textContent = text;
      return;
    }
    const list = momentsList();
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = `#entry-${update.id}`;
    link.textContent = text;
    item.append(link);
    // Oldest first: before the first key moment that happened later.
    const key = keyOf(article);
    const later = [...list.children].find((li) => {
      const a = li.querySelector("a");
      const target = a && document.getElementById((a.getAttribute("href") || "").slice(1));
      return target && target.matches("article.entry") && newer(keyOf(target), key);
    });
    if (later) later.before(item);
    else list.append(item);
  };

  // -- applying updates --------------------------------------------------------------

  /* Reader scrolled past the top of the entries: an insertion there would push what
   * they read down the screen, so new entries wait behind the button instead. */
  const scrolledDown = () => entries.getBoundingClientRect().top < -1;

  const retract = (update, shown) => {
    pending.delete(update.id);
    dropMoment(update.id);
    if (!shown || shown.classList.contains("retracted-notice")) return;
    const notice = document.createElement("p");
    notice.className = "retracted-notice";
    notice.id = shown.id; // links to the entry land on the notice
    notice.dataset.changed = String(update.changed);
    notice.textContent = "This entry was retracted.";
    shown.replaceWith(notice);
  };

  const pin = (update, article, shown) => {
    const pinned = pinnedBox();
    for (const other of pinned.querySelectorAll("article.entry")) {
      if (other.id !== article.id) place(other, null); // replaced: back among the entries
    }
    if (shown) shown.remove();
    pending.delete(update.id);
    pinned.append(article);
  };

  const inDay = (element, day) => {
    const section = element.closest("[data-day]:not(article)");
    return !section || day === null || day === undefined || section.dataset.day === String(day);
  };

  const applyOne = (update) => {
    if (!update || typeof update.id !== "string") return;
    const shown = document.getElementById(`entry-${update.id}`);
    if (shown && Number(shown.dataset.changed) >= Number(update.changed)) return; // had it
    if (update.retracted) {
      retract(update, shown);
      return;
    }
    const article = build(update);
    if (!article) return;
    if (update.pinned) {
      pin(update, article, shown);
    } else if (shown && shown.closest("#pinned")) {
      shown.remove(); // unpinned: back in its place
      place(article, update.day);
    } else if (shown && !inDay(shown, update.day)) {
      shown.remove(); // put back in the wrong day (a pin replaced it): now its own
      place(article, update.day);
    } else if (shown) {
      // Same slot; an earlier wording the reader opened stays open.
      const open = shown.querySelector("details.earlier[open]");
      const details = article.querySelector("details.earlier");
      if (open && details) details.open = true;
      shown.replaceWith(article);
    } else if (pending.has(update.id) || scrolledDown()) {
      pending.set(update.id, update);
    } else {
      place(article, update.day);
    }
    keepMoment(update, article);
  };

  /* The first entry on screen and where it is, to keep it there across a change (one
   * the change leaves where it is: following a moved entry would scroll the page). */
  const anchor = (touched) => {
    if (window.scrollY <= 0) return null;
    const all = document.querySelectorAll("article.entry, .retracted-notice");
    for (const element of all) {
      if (touched.has(element.id)) continue;
      const rect = element.getBoundingClientRect();
      if (rect.bottom > 0) return { element, top: rect.top };
    }
    return null;
  };

  const apply = (updates) => {
    const held = anchor(new Set(updates.map((update) => update && `entry-${update.id}`)));
    for (const update of updates) applyOne(update);
    refreshBoxes();
    if (held && held.element.isConnected) {
      const moved = held.element.getBoundingClientRect().top - held.top;
      if (Math.abs(moved) >= 1) window.scrollBy(0, moved);
    }
    showButton();
  };

  const setLive = (live) => {
    if (typeof live !== "boolean") return;
    for (const marker of document.querySelectorAll(".live-marker")) marker.hidden = !live;
  };

  // -- "N new entries" ---------------------------------------------------------------

  let button = document.getElementById("new-entries");
  if (!button) {
    button = document.createElement("button");
    button.type = "button";
    button.id = "new-entries";
    button.hidden = true;
    entries.before(button);
  }
  // Held-back entries are not in #entries' live region yet: the count is announced.
  button.setAttribute("aria-live", "polite");

  const showButton = () => {
    const count = pending.size;
    button.hidden = count === 0;
    if (count) button.textContent = count === 1 ? "1 new entry" : `${count} new entries`;
  };

  const flush = () => {
    const updates = [...pending.values()];
    pending.clear();
    const shown = [];
    for (const update of updates) {
      const article = build(update);
      if (!article) continue;
      place(article, update.day);
      shown.push(article);
    }
    showButton();
    return shown;
  };

  button.addEventListener("click", () => {
    const shown = flush();
    const newest = shown.sort((a, b) => (newer(keyOf(a), keyOf(b)) ? -1 : 1))[0];
    entries.scrollIntoView({ block: "start" });
    if (newest) {
      newest.tabIndex = -1; // focus follows the reader to what they asked to see
      newest.focus({ preventScroll: true });
    }
  });

  let scrollQueued = false;
  window.addEventListener(
    "scroll",
    () => {
      if (scrollQueued || pending.size === 0) return;
      scrollQueued = true;
      requestAnimationFrame(() => {
        scrollQueued = false;
        if (pending.size && !scrolledDown()) flush(); // back at the top: show them
      });
    },
    { passive: true },
  );

  // -- the stream --------------------------------------------------------------------

  let retryMs = 2000;
  const backoff = () => {
    const wait = retryMs * (0.5 + Math.random()); // jitter: readers of a restarted
    retryMs = Math.min(retryMs * 2, 60000); // server do not all come back at once
    return wait;
  };

  const receive = (text) => {
    let message;
    try {
      message = JSON.parse(text);
    } catch (error) {
      return;
    }
    if (!message || !(Number(message.position) > position)) return; // nothing twice
    apply(Array.isArray(message.entries) ? message.entries : []);
    position = Number(message.position);
    setLive(message.live);
  };

  const streamUrl = () => {
    const url = new URL(config.stream, location.href);
    url.searchParams.set("since", String(position));
    return url.href;
  };

  let everOpened = false;
  let streamOpen = false;

  const openStream = () => {
    const source = new EventSource(streamUrl());
    source.addEventListener("open", () => {
      everOpened = streamOpen = true;
      retryMs = 2000;
      stopPolling();
      setState("stream");
    });
    source.addEventListener("update", (message) => receive(message.data));
    source.addEventListener("error", () => {
      streamOpen = false;
      if (everOpened && source.readyState !== EventSource.CLOSED) {
        setState("reconnecting"); // the browser retries, with Last-Event-ID
        return;
      }
      // Refused (not a network error): the browser gives up, so the page decides.
      source.close();
      whyNoStream();
    });
  };

  /* The stream is refused, or never opened: no such URL (static hosting, or the page
   * now served by a plain web server): poll for good; a server that is busy or
   * starting (503): poll meanwhile, and try the stream again later, from the position
   * the page has reached. */
  const whyNoStream = () => {
    const control = new AbortController();
    fetch(streamUrl(), {
      headers: { Accept: "text/event-stream" },
      cache: "no-store",
      signal: control.signal,
    })
      .then(
        (response) => {
          const streams = (response.headers.get("content-type") || "").startsWith(
            "text/event-stream",
          );
          control.abort();
          return response.status >= 500 || response.status === 429 || (response.ok && streams);
        },
        () => true, // the network failed: a server may be there later
      )
      .then((temporary) => {
        startPolling();
        if (temporary) {
          setTimeout(() => {
            if (!streamOpen) openStream();
          }, backoff());
        }
      });
  };

  // -- polling live.json -------------------------------------------------------------

  let polling = false;
  let pollTimer = null;
  let etag = null;
  let lastPoll = 0;
  let inFlight = false;

  const schedulePoll = () => {
    clearTimeout(pollTimer);
    const factor = document.visibilityState === "hidden" ? 4 : 1;
    pollTimer = setTimeout(poll, pollInterval * factor * 1000);
  };

  const applyFeed = (feed) => {
    const meta = feed && feed._liveblog;
    if (!meta || typeof meta !== "object") return;
    pollInterval = seconds(meta.poll_interval, pollInterval);
    const reached = Number(meta.position);
    if (!(reached > position)) return;
    const updates = (Array.isArray(feed.items) ? feed.items : [])
      .map((item) => item && item._liveblog)
      .filter((update) => update && Number(update.changed) > position)
      .sort((a, b) => a.changed - b.changed || a.position - b.position);
    for (const id of Array.isArray(meta.retracted) ? meta.retracted : []) {
      const base = { id: String(id), changed: reached, retracted: true };
      updates.push({ ...base, pinned: false, key_moment: null, html: "" });
    }
    apply(updates);
    // An entry unpinned because another was pinned may be older than live.json holds.
    const pinnedId = typeof meta.pinned === "string" ? `entry-${meta.pinned}` : null;
    const pinned = pinnedBox();
    for (const other of pinned.querySelectorAll("article.entry")) {
      if (other.id !== pinnedId) place(other, null);
    }
    const wanted = pinnedId && document.getElementById(pinnedId);
    if (wanted && wanted.matches("article.entry") && !pinned.contains(wanted)) {
      pinned.append(wanted);
    }
    refreshBoxes();
    position = reached;
    setLive(meta.live);
  };

  const poll = async () => {
    pollTimer = null;
    if (!polling || inFlight) return;
    inFlight = true;
    lastPoll = Date.now();
    try {
      const headers = etag ? { "If-None-Match": etag } : {};
      const response = await fetch(new URL(config.poll, location.href).href, {
        headers,
        cache: "no-store",
      });
      if (response.status === 200) {
        const feed = await response.json();
        etag = response.headers.get("ETag");
        applyFeed(feed);
      }
    } catch (error) {
      // offline for a moment: the next poll tries again
    }
    inFlight = false;
    if (polling) schedulePoll();
  };

  const startPolling = () => {
    if (polling || streamOpen) return;
    polling = true;
    setState("polling");
    poll();
  };

  const stopPolling = () => {
    polling = false;
    clearTimeout(pollTimer);
  };

  document.addEventListener("visibilitychange", () => {
    if (!polling || document.visibilityState !== "visible") return;
    if (Date.now() - lastPoll >= pollInterval * 1000) poll();
    else schedulePoll();
  });

  // -- start -------------------------------------------------------------------------

  refreshBoxes();
  setState("connecting");
  if (config.stream && typeof EventSource === "function") openStream();
  else if (config.poll) startPolling();
})();
