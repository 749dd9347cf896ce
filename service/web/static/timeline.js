// Timeline page: the time axes refresh the server-rendered views; /api/stream keeps them live.
// Plain JavaScript, no library: the HTML works without it (the form submits), this makes it live.
"use strict";

(function () {
  const DAY_MS = 86400000;
  const EVENT_TYPES = ["development_reported", "report_added", "report_corrected",
    "report_retracted", "development_corrected", "status_changed"];
  const form = document.getElementById("controls");
  const views = document.getElementById("views");
  if (!form || !views) return;

  const slider = document.getElementById("as-of-slider");
  const asOf = document.getElementById("as-of");
  const said = document.getElementById("as-of-said");
  const knownAt = document.getElementById("known-at");
  // The overview's actor filter; on a development page opened from a filtered overview, that
  // filter in a hidden field: sent with the axes, it keeps the crumb back to the overview (and
  // the address) filtered, and filters nothing there. Not for the stream, which refuses it.
  const actor = document.getElementById("actor");
  const now = document.getElementById("known-at-now");
  const live = document.getElementById("live");
  const liveness = document.getElementById("liveness");
  const refused = document.getElementById("refused");
  const viewsSaid = document.getElementById("views-said");
  const firstDay = Date.parse(slider.dataset.firstDay + "T00:00:00Z");
  let controller = null;
  let timer = null;
  const fresh = new Set();  // developments that changed since the last refresh
  const heard = [];  // events not yet announced: those that come together are told together
  let telling = null;
  let readerChanged = false;  // a refresh the reader asked for: its views are summarised
  // The known-at the page was given, to the microsecond; the field holds whole seconds, and a
  // moment rounded down can leave out what was recorded in its last second.
  let exactKnownAt = knownAt.dataset.exact || "";

  function dayOf(index) {
    return new Date(firstDay + index * DAY_MS).toISOString().slice(0, 10);
  }

  function indexOf(day) {
    return Math.round((Date.parse(day + "T00:00:00Z") - firstDay) / DAY_MS);
  }

  function longDate(day) {
    return new Date(day + "T00:00:00Z").toLocaleDateString("en-GB",
      { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
  }

  function knownAtParam() {
    if (exactKnownAt) return exactKnownAt;
    const value = knownAt.value;
    if (!value) return "";
    // The input is labelled UTC. A moment typed to the second means its end, as a date means
    // the end of its day: what was recorded at 12:00:05.3 is known at 12:00:05. The field shows
    // seconds but leaves out ":00" from its value, so a value without them is second 00.
    const whole = value.length === 16 ? value + ":00" : value;
    return (whole.includes(".") ? whole : whole + ".999999") + "Z";
  }

  function query() {
    const params = new URLSearchParams();
    if (asOf.value) params.set("as_of", asOf.value);
    const known = knownAtParam();
    if (known) params.set("known_at", known);
    if (actor && actor.value.trim()) params.set("actor", actor.value.trim());
    return params.toString();
  }

  function showDate(day) {
    said.textContent = longDate(day);
    document.title = document.title.replace(/\d{4}-\d{2}-\d{2}/, day);
    slider.setAttribute("aria-valuetext", longDate(day));
  }

  // Swap in new views, keeping the keyboard focus on the same link or control: a link found by
  // its address, else by its path (a download or a pinned view names the newest known-at),
  // else the focus goes to the main content rather than to the top of the page.
  function swap(html) {
    const focused = views.contains(document.activeElement) ? document.activeElement : null;
    let selectors = [];
    if (focused && focused.id) selectors = ["#" + CSS.escape(focused.id)];
    else if (focused && focused.getAttribute("href")) {
      const href = focused.getAttribute("href");
      selectors = [`[href="${CSS.escape(href)}"]`, `[href^="${CSS.escape(href.split("?")[0] + "?")}"]`];
    }
    // which of its kind, in its own section: a development's link is on the board and in the
    // timeline, and the board may gain or lose one before the timeline's
    const section = focused && focused.closest("section[id]");
    const within = () => (section && document.getElementById(section.id)) || views;
    const places = selectors.map((selector) => [...within().querySelectorAll(selector)].indexOf(focused));
    const open = [...views.querySelectorAll("details[open][id]")].map((details) => details.id);
    views.innerHTML = html;
    const heading = document.getElementById("dev-title");  // a development page: its title,
    if (heading) document.title = heading.textContent + " · Timeline";  // corrected or not
    for (const id of open) {  // a table a reader opened stays open
      const details = document.getElementById(id);
      if (details) details.open = true;
    }
    const again = selectors.map((selector, i) => within().querySelectorAll(selector)[places[i]])
      .find((element) => element);
    if (again) again.focus({ preventScroll: true });
    else if (focused) document.getElementById("main").focus({ preventScroll: true });
  }

  // A refused refresh leaves the views and the address as they were, and says why.
  function refuse(status, html) {
    const page = new DOMParser().parseFromString(html, "text/html");
    const detail = page.querySelector("#error-title + p");
    let message = `Not shown (${status}): ` + (detail ? detail.textContent : "the server refused.");
    if (status === 404 && knownAtParam()) message += " Choose Now, or a later known-at, to see it.";
    refused.textContent = message + " The views below are still those of the address above.";
    refused.hidden = false;
    announce(message);
  }

  // Fetch the part for the current axes and swap it in; the newest request wins. The address
  // changes only once the views for it are on screen, so a reload shows what was shown.
  async function refresh(after) {
    if (!after) readerChanged = true;
    const q = query();
    if (controller) controller.abort();
    controller = new AbortController();
    views.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(views.dataset.part + (q ? "?" + q : ""),
        { signal: controller.signal, headers: { Accept: "text/html" } });
      const html = await response.text();
      if (!response.ok) {
        refuse(response.status, html);
        return;
      }
      history.replaceState(null, "", location.pathname + (q ? "?" + q : ""));
      refused.hidden = true;
      swap(html);
      if (after) after();
      if (readerChanged) {  // also when an event's refresh took the place of the reader's
        readerChanged = false;
        tellViews();
      }
    } catch (error) {
      if (error.name !== "AbortError") announce("Could not refresh the views: " + error.message);
    } finally {
      views.removeAttribute("aria-busy");
    }
  }

  function later(after) {
    if (!after) readerChanged = true;
    clearTimeout(timer);
    timer = setTimeout(() => refresh(after), 150);
  }

  // A reader's own change of the axes or the filter: what the page now shows (its summary: the
  // overview's lede, a development's status and reports), said once the views are in; without
  // its date when the slider has the focus (it says the date itself)
  function tellViews() {
    const summary = views.querySelector("[data-summary]");
    if (!summary || !viewsSaid) return;
    const copy = summary.cloneNode(true);
    for (const link of copy.querySelectorAll("a")) link.remove();
    let said = copy.textContent.replace(/\s+/g, " ").trim();
    if (document.activeElement === slider) said = said.replace(/^As of [^,:]*[,:]\s*/, "");
    viewsSaid.textContent = said;
  }

  function announce(message) {
    live.textContent = message;
    live.classList.remove("flash");
    void live.offsetWidth;  // restart the animation
    live.classList.add("flash");
  }

  slider.addEventListener("input", () => {
    asOf.value = dayOf(Number(slider.value));
    showDate(asOf.value);
    later();
  });
  asOf.addEventListener("change", () => {
    if (!asOf.value) return;
    slider.value = String(Math.max(0, indexOf(asOf.value)));
    showDate(asOf.value);
    later();
  });
  knownAt.addEventListener("change", () => { exactKnownAt = ""; later(); });
  now.addEventListener("click", () => { exactKnownAt = ""; knownAt.value = ""; later(); });
  if (actor) {
    actor.addEventListener("change", () => later());  // typed and left, or chosen
    // Enter applies it: a form of several fields and no submit button is not sent by Enter
    actor.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); refresh(); }
    });
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); refresh(); });

  // Live: every event recorded after this page was made, from the log (any API process).
  function titleOf(item) {
    if (item.event && item.event.title) return item.event.title;
    const changes = item.event && item.event.changes;  // a correction of the title: the new one
    if (item.type === "development_corrected" && changes && changes.title) return changes.title;
    const heading = document.getElementById("dev-title");
    if (heading && views.dataset.development === item.development_id) return heading.textContent;
    const found = views.querySelector(`[data-development="${item.development_id}"] a`);
    return found ? found.textContent : "development " + item.development_id.slice(0, 8);
  }

  function highlight() {
    for (const id of fresh) {
      for (const element of views.querySelectorAll(`[data-development="${id}"]`)) {
        element.classList.add("fresh");
      }
    }
    fresh.clear();
  }

  let seen = document.body.dataset.head || "0";  // the last position the page was told of

  // One announcement for the events that arrive together (a batch, a burst), not one each: said
  // once none came for 300 ms, or 2 s after the first of a stream that does not pause
  function tell() {
    telling = null;
    const items = heard.splice(0);
    const last = items[items.length - 1];
    const one = items.length === 1;
    let message = one ? `New event ${last.position}: ${last.what}, “${last.title}”.`
      : `${items.length} new events, up to ${last.position}; the last: ${last.what}, “${last.title}”.`;
    if (knownAt.value) {
      message += ` Recorded after the known-at time; choose Now to include ${one ? "it" : "them"}.`;
    } else {
      message += " Views updated.";
    }
    announce(message);
  }

  function onEvent(message) {
    const item = JSON.parse(message.data);
    seen = message.lastEventId || seen;
    heard.push({ position: item.position, what: item.type.replace(/_/g, " "), title: titleOf(item),
                 at: Date.now() });
    clearTimeout(telling);
    telling = setTimeout(tell, Date.now() - heard[0].at >= 2000 ? 0 : 300);
    if (knownAt.value) return;
    fresh.add(item.development_id);
    later(highlight);
  }

  function follow() {
    if (!window.EventSource) return;
    const params = new URLSearchParams({ after: seen });
    if (views.dataset.development) params.set("development", views.dataset.development);
    const source = new EventSource("/api/stream?" + params.toString());
    for (const type of EVENT_TYPES) source.addEventListener(type, onEvent);
    source.addEventListener("open", () => setLiveness("live"));
    source.addEventListener("error", () => {
      setLiveness("reconnecting");
      // A browser reconnects by itself after a dropped stream, but gives up on an answer that
      // is not one (a 503 from a server with as many streams as it keeps): try again later,
      // from the last event seen, at a random moment so that pages do not all come at once
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(follow, 5000 + Math.random() * 10000);
      }
    });
  }

  function setLiveness(word) {
    liveness.dataset.state = word;
    liveness.querySelector(".word").textContent = word;
  }

  follow();
})();
