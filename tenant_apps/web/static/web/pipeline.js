/* The Kanban board: drag a card (or use its "Move to" menu) to transition the lead through the API; a move
   the server refuses snaps back with the server's reason. Changes made anywhere else arrive from the
   pipeline stream (server-sent events named by topic) and are applied without a reload. */
(() => {
  "use strict";
  const board = document.getElementById("board");
  if (!board || !window.LeadPulse) return;
  const { say, post } = window.LeadPulse;
  const transitions = JSON.parse(document.getElementById("transitions").textContent);
  const labels = JSON.parse(document.getElementById("stage-labels").textContent);
  const live = document.getElementById("live");
  const TOPICS = [
    "lead.created", "lead.updated", "lead.stage_changed", "lead.owner_changed",
    "lead.deleted", "lead.restored", "lead.merged", "lead.purged", "lead.converted",
  ];

  const columnOf = (stage) => board.querySelector(`.column[data-stage="${CSS.escape(stage)}"]`);
  const listOf = (stage) => columnOf(stage)?.querySelector("ol.cards");
  const cardOf = (id) => document.getElementById(`lead-${id}`);
  const urlFor = (template, id) => template.replace("/0/", `/${encodeURIComponent(id)}/`);
  const FETCH = { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } };
  /* the board's filters (owner, tag) apply to its counts and to each column's further cards */
  const filters = new URLSearchParams(window.location.search);
  const withFilters = (url, extra = {}) => {
    const query = new URLSearchParams(filters);
    for (const [key, value] of Object.entries(extra)) query.set(key, value);
    const text = query.toString();
    return text ? `${url}?${text}` : url;
  };
  /* a 401 means the session ended: the page reloads, and the server sends it to the sign-in form */
  function signedOut(response) {
    if (response.status !== 401) return false;
    window.location.reload();
    return true;
  }

  /* ---- counts and totals: the server's figures, refreshed after each change (coalesced) ---- */
  let summaryTimer = null;
  function refreshSummary() {
    clearTimeout(summaryTimer);
    summaryTimer = setTimeout(loadSummary, 100);
  }
  async function loadSummary() {
    const response = await fetch(withFilters(board.dataset.summaryUrl), FETCH);
    if (signedOut(response) || !response.ok) return;
    const summary = await response.json();
    for (const [stage, figures] of Object.entries(summary)) {
      const column = columnOf(stage);
      if (!column) continue;
      column.querySelector("[data-count]").textContent = figures.count;
      column.querySelector("[data-total]").textContent = figures.total;
      const hidden = Math.max(0, figures.count - column.querySelectorAll(".card").length);
      const more = column.querySelector(".load-more");
      more.hidden = hidden === 0 || !more.dataset.cursor;
      more.querySelector("[data-hidden]").textContent = hidden;
    }
  }

  /* ---- one card, re-rendered by the server (its menu lists the moves allowed from its new stage) ---- */
  async function refreshCard(id) {
    const response = await fetch(urlFor(board.dataset.cardUrl, id), FETCH);
    if (signedOut(response)) return;
    const existing = cardOf(id);
    if (response.status === 404) { existing?.remove(); return; }
    if (!response.ok) return;
    const template = document.createElement("template");
    template.innerHTML = (await response.text()).trim();
    const card = template.content.firstElementChild;
    const list = listOf(card.dataset.stage);
    if (!list) return;
    const hadFocus = existing && existing.contains(document.activeElement);
    if (existing && existing.parentElement === list) existing.replaceWith(card);
    else { existing?.remove(); list.prepend(card); }
    if (hadFocus) card.querySelector(".name")?.focus();
  }

  /* ---- moving: optimistic, then confirmed or snapped back ---- */
  async function move(card, stage) {
    const fromStage = card.dataset.stage;
    if (!stage || stage === fromStage || card.classList.contains("pending")) return;
    const origin = card.parentElement;
    const next = card.nextElementSibling;
    listOf(stage)?.prepend(card);
    card.dataset.stage = stage;
    card.classList.add("pending");
    let result;
    try {
      result = await post(
        urlFor(board.dataset.transitionUrl, card.dataset.id),
        JSON.stringify({ stage }),
        { "Content-Type": "application/json" },
      );
    } catch (error) {
      result = { ok: false, status: 0, body: { message: "The server could not be reached; the card was put back." } };
    }
    card.classList.remove("pending");
    if (!result.ok) {
      if (next && next.parentElement === origin) origin.insertBefore(card, next);
      else origin.appendChild(card);
      card.dataset.stage = fromStage;
      card.classList.add("refused");
      setTimeout(() => card.classList.remove("refused"), 600);
      say(result.body.message || `The move was refused (${result.status}).`, "error");
      return;
    }
    say(`${card.dataset.name} moved to ${labels[stage] || stage}.`);
    await refreshCard(card.dataset.id);
    refreshSummary();
  }

  /* drag and drop (mouse); columns the card may go to are outlined while dragging */
  let dragged = null;
  board.addEventListener("dragstart", (event) => {
    const card = event.target instanceof Element ? event.target.closest(".card[draggable='true']") : null;
    if (!card) return;
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.id);
    card.classList.add("dragging");
    markTargets(card.dataset.stage);
  });
  /* while a card is dragged, the columns the lead state machine allows are outlined and every other one
     is disabled (greyed, "Not allowed", and refuses the drop) */
  function markTargets(fromStage) {
    const allowed = new Set(transitions[fromStage] || []);
    board.classList.add("dragging-on");
    board.querySelectorAll(".column").forEach((column) => {
      const stage = column.dataset.stage;
      if (stage === fromStage) return;
      const ok = allowed.has(stage);
      column.classList.toggle("allowed", ok);
      column.classList.toggle("blocked", !ok);
      if (!ok) column.setAttribute("aria-disabled", "true");
    });
  }
  function clearTargets() {
    board.classList.remove("dragging-on");
    board.querySelectorAll(".column").forEach((column) => {
      column.classList.remove("allowed", "blocked", "over");
      column.removeAttribute("aria-disabled");
    });
  }
  /* a card let go over a disabled column stays where it was, and says why */
  let blockedOver = null;
  board.addEventListener("dragend", () => {
    if (dragged && blockedOver) {
      const from = dragged.dataset.stage;
      const allowed = (transitions[from] || []).map((stage) => labels[stage] || stage).join(", ") || "none";
      say(`A lead in ${labels[from] || from} cannot move to ${labels[blockedOver] || blockedOver}; allowed: ${allowed}.`, "error");
    }
    blockedOver = null;
    dragged?.classList.remove("dragging");
    dragged = null;
    clearTargets();
  });
  board.addEventListener("dragover", (event) => {
    const column = event.target instanceof Element ? event.target.closest(".column") : null;
    if (!column || !dragged) return;
    if (column.classList.contains("blocked")) {
      event.dataTransfer.dropEffect = "none";
      blockedOver = column.dataset.stage;
      board.querySelectorAll(".column.over").forEach((other) => other.classList.remove("over"));
      return;
    }
    blockedOver = null;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    board.querySelectorAll(".column.over").forEach((other) => { if (other !== column) other.classList.remove("over"); });
    column.classList.add("over");
  });
  board.addEventListener("drop", (event) => {
    const column = event.target instanceof Element ? event.target.closest(".column") : null;
    if (!column || !dragged || column.classList.contains("blocked")) return;
    event.preventDefault();
    blockedOver = null;
    const card = dragged;
    card.classList.remove("dragging");
    clearTargets();
    dragged = null;
    move(card, column.dataset.stage);
  });

  /* ---- a column's further cards, a page at a time (the board renders only the first of each) ---- */
  board.addEventListener("click", async (event) => {
    const button = event.target instanceof Element ? event.target.closest(".load-more") : null;
    if (!button || button.disabled) return;
    const column = button.closest(".column");
    const url = board.dataset.columnUrl.replace("/NEW/", `/${encodeURIComponent(column.dataset.stage)}/`);
    button.disabled = true;
    try {
      const response = await fetch(withFilters(url, { cursor: button.dataset.cursor }), FETCH);
      if (signedOut(response)) return;
      if (!response.ok) { say("Could not load more cards.", "error"); return; }
      const body = await response.json();
      const template = document.createElement("template");
      template.innerHTML = body.html.trim();
      const list = column.querySelector("ol.cards");
      for (const fresh of [...template.content.children]) {
        if (!cardOf(fresh.dataset.id)) list.append(fresh); // a card that arrived live is not doubled
      }
      button.dataset.cursor = body.next_cursor;
      refreshSummary();
    } finally {
      button.disabled = false;
    }
  });

  /* the keyboard (and touch) alternative: each card's "Move to" menu */
  board.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("move")) return;
    event.preventDefault();
    const card = form.closest(".card");
    const stage = form.elements.stage.value;
    move(card, stage).then(() => cardOf(card.dataset.id)?.querySelector("select, .name")?.focus());
  });

  /* ---- live updates ---- */
  function setLive(state, text) {
    live.dataset.state = state;
    live.textContent = text;
  }
  function onEvent(event) {
    const topic = String(event.topic || "");
    const id = event.record_id;
    if (!topic.startsWith("lead.") || id === undefined || id === null) return;
    const card = cardOf(id);
    if (card?.classList.contains("pending")) return; // our own move: its answer refreshes the card
    const data = event.data || {};
    const current = topic === "lead.stage_changed" ? data.current || data.to : null;
    if (card && current && listOf(current) && card.dataset.stage !== current) {
      listOf(current).prepend(card); // at once; the server's rendering follows
      card.dataset.stage = current;
    }
    refreshCard(id).then(refreshSummary);
  }
  function connect() {
    if (!window.EventSource) { setLive("off", "Live updates: not supported by this browser"); return; }
    setLive("connecting", "Live updates: connecting…");
    const source = new EventSource(board.dataset.stream);
    const handle = (message) => {
      try { onEvent(JSON.parse(message.data)); } catch (error) { /* not ours: ignore */ }
    };
    TOPICS.forEach((topic) => source.addEventListener(topic, handle));
    source.onmessage = handle;
    // the missed events could not be replayed: the page is stale, start again from the server's state
    source.addEventListener("reset", () => window.location.reload());
    source.onopen = () => setLive("on", "Live updates: on");
    source.onerror = () => {
      // a refused stream (404, 401...) is closed for good; a dropped one reconnects by itself
      if (source.readyState === EventSource.CLOSED) setLive("off", "Live updates: unavailable (reload to retry)");
      else setLive("connecting", "Live updates: reconnecting…");
    };
  }
  /* the board fills the window below its top edge: columns scroll inside it, the page does not */
  function fit() {
    const top = board.getBoundingClientRect().top + window.scrollY;
    board.style.height = `${Math.max(420, window.innerHeight - top - 12)}px`;
  }
  fit();
  window.addEventListener("resize", fit);

  connect();
  board.dataset.ready = "true"; // handlers in place (the browser tests wait for this)
})();
