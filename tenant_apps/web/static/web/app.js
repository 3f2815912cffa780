/* LeadPulse: small enhancements over server-rendered pages. Every form works without this file; with it,
   forms marked data-fetch post in place, "Older activity" links append instead of reloading, messages are
   toasts, the top bar searches while typing (Ctrl-K), shows notifications and folds into a menu on a phone. */
(() => {
  "use strict";
  document.documentElement.classList.add("js");

  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

  /* One live region for every message, so screen readers hear them. */
  function say(text, kind = "success") {
    const flash = document.getElementById("flash");
    if (!flash) return;
    const p = document.createElement("p");
    p.className = `msg ${kind}`;
    p.textContent = text;
    flash.replaceChildren(p);
    fade(p, kind);
  }
  /* a toast leaves by itself after a while; an error stays until clicked */
  function fade(p, kind) {
    if (kind.includes("error")) { p.title = "Click to dismiss"; p.addEventListener("click", () => p.remove()); return; }
    setTimeout(() => { if (p.parentElement) p.remove(); }, 6000);
  }
  document.querySelectorAll("#flash .msg").forEach((p) => fade(p, p.className));
  /* a message for after a reload the script itself asked for */
  function later(text) { try { sessionStorage.setItem("leadpulse.toast", text); } catch (error) { /* private mode */ } }
  try {
    const pending = sessionStorage.getItem("leadpulse.toast");
    if (pending) { sessionStorage.removeItem("leadpulse.toast"); window.addEventListener("DOMContentLoaded", () => say(pending)); }
  } catch (error) { /* private mode */ }

  /* POST a form with the page's session and CSRF token; resolves to {ok, status, body}. */
  async function post(url, data, headers = {}) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf(), "X-Requested-With": "fetch", Accept: "application/json", ...headers },
      body: data,
    });
    let body = {};
    try { body = await response.json(); } catch (error) { body = {}; }
    return { ok: response.ok, status: response.status, body };
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-fetch")) return;
    event.preventDefault();
    const buttons = form.querySelectorAll("button");
    buttons.forEach((button) => { button.disabled = true; });
    try {
      const { ok, status, body } = await post(form.action, new FormData(form));
      if (!ok) {
        say(body.message || `That did not work (${status}).`, "error");
        return;
      }
      say(body.message || "Done.");
      const row = form.closest("[data-row]");
      if (row && body.html) {
        const template = document.createElement("template");
        template.innerHTML = body.html.trim();
        const fresh = template.content.firstElementChild;
        row.replaceWith(fresh);
        fresh.querySelector(".name")?.focus();
      } else {
        form.reset();
        form.closest("details")?.removeAttribute("open");
      }
    } catch (error) {
      say("The server could not be reached. Try again.", "error");
    } finally {
      buttons.forEach((button) => { button.disabled = false; });
    }
  });

  document.addEventListener("click", async (event) => {
    const link = event.target instanceof Element ? event.target.closest("a[data-more]") : null;
    if (!link) return;
    event.preventDefault();
    const item = link.closest("li");
    const response = await fetch(link.dataset.more, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } });
    if (!response.ok) { say("Could not load more activity.", "error"); return; }
    const template = document.createElement("template");
    template.innerHTML = (await response.text()).trim();
    const first = template.content.firstElementChild;
    item.replaceWith(template.content);
    first?.querySelector("strong")?.setAttribute("tabindex", "-1");
    first?.querySelector("strong")?.focus();
  });

  /* ---- the menu button (a phone's top bar shows the menu only when asked) ---- */
  const menuButton = document.getElementById("menu-button");
  const nav = document.getElementById("main-nav");
  menuButton?.addEventListener("click", () => {
    const open = !nav.classList.contains("open");
    nav.classList.toggle("open", open);
    menuButton.setAttribute("aria-expanded", String(open));
  });

  /* ---- global search: results while typing, arrows + Enter, recent items, Ctrl-K / "/" to focus ---- */
  const searchForm = document.getElementById("global-search");
  const input = document.getElementById("global-q");
  const box = document.getElementById("global-results-box");
  const listbox = document.getElementById("global-results");
  const status = document.getElementById("global-status");
  const RECENT_KEY = "leadpulse.recent";
  let active = -1;
  let timer = null;
  let sequence = 0;

  const recent = () => { try { return JSON.parse(localStorage.getItem(RECENT_KEY) || "[]"); } catch (error) { return []; } };
  function remember(item) {
    const items = [item, ...recent().filter((other) => other.url !== item.url)].slice(0, 6);
    try { localStorage.setItem(RECENT_KEY, JSON.stringify(items)); } catch (error) { /* private mode */ }
  }
  /* the record page being read joins the recent items */
  const here = document.querySelector("[data-recent-title]");
  if (here) remember({ title: here.dataset.recentTitle, label: here.dataset.recentLabel || "", url: window.location.pathname, snippet: "" });

  function options() { return [...listbox.querySelectorAll('[role="option"]')]; }
  function open(show) {
    box.hidden = !show;
    input?.setAttribute("aria-expanded", String(show));
    if (!show) { active = -1; input?.removeAttribute("aria-activedescendant"); }
  }
  function highlight(index) {
    const all = options();
    if (!all.length) return;
    active = (index + all.length) % all.length;
    all.forEach((option, at) => option.setAttribute("aria-selected", String(at === active)));
    input.setAttribute("aria-activedescendant", all[active].id);
    all[active].scrollIntoView({ block: "nearest" });
  }
  function render(items, heading, message) {
    listbox.replaceChildren();
    if (heading && items.length) {
      const li = document.createElement("li");
      li.className = "group";
      li.setAttribute("role", "presentation");
      li.textContent = heading;
      listbox.append(li);
    }
    items.forEach((item, index) => {
      const li = document.createElement("li");
      li.id = `suggestion-${index}`;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.dataset.url = item.url;
      li.dataset.title = item.title;
      li.dataset.label = item.label || "";
      const kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = item.label || "";
      const title = document.createElement("span");
      title.className = "title";
      title.textContent = item.title;
      li.append(kind, title);
      if (item.snippet) {
        const snippet = document.createElement("span");
        snippet.className = "snippet";
        snippet.innerHTML = item.snippet; // escaped by the server; only <mark> is markup
        li.append(snippet);
      }
      listbox.append(li);
    });
    status.textContent = message;
    active = -1;
    open(Boolean(items.length || message));
  }
  function showRecent() {
    const items = recent();
    if (items.length) render(items, "Recent", "");
  }
  async function suggest() {
    const q = input.value.trim();
    if (q.length < 2) { if (!q) showRecent(); else open(false); return; }
    const mine = ++sequence;
    let body = { results: [] };
    try {
      const response = await fetch(`${searchForm.dataset.suggestUrl}?q=${encodeURIComponent(q)}`, {
        credentials: "same-origin", headers: { "X-Requested-With": "fetch", Accept: "application/json" },
      });
      if (!response.ok) return;
      body = await response.json();
    } catch (error) { return; }
    if (mine !== sequence) return; // a later keystroke's answer wins
    const count = body.results.length;
    render(body.results, "", count ? `${count} result${count === 1 ? "" : "s"}; Enter on none searches the leads.` : "Nothing found. Enter searches the leads.");
  }
  function go(option) {
    remember({ title: option.dataset.title, label: option.dataset.label, url: option.dataset.url, snippet: "" });
    window.location.assign(option.dataset.url);
  }
  if (input && searchForm && listbox) {
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(suggest, 150); });
    input.addEventListener("focus", () => { if (!input.value.trim()) showRecent(); });
    input.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown") { event.preventDefault(); if (box.hidden) showRecent(); highlight(active + 1); }
      else if (event.key === "ArrowUp") { event.preventDefault(); highlight(active - 1); }
      else if (event.key === "Escape") { open(false); }
      else if (event.key === "Enter" && active >= 0) { event.preventDefault(); go(options()[active]); }
    });
    listbox.addEventListener("mousedown", (event) => {
      const option = event.target instanceof Element ? event.target.closest('[role="option"]') : null;
      if (option) { event.preventDefault(); go(option); }
    });
    input.addEventListener("blur", () => setTimeout(() => open(false), 150));
    document.addEventListener("keydown", (event) => {
      const typing = event.target instanceof HTMLElement && event.target.closest("input, textarea, select, [contenteditable]");
      if ((event.key === "k" && (event.ctrlKey || event.metaKey)) || (event.key === "/" && !typing)) {
        event.preventDefault();
        input.focus();
        input.select();
      }
    });
  }

  /* ---- notifications: the unread count is the server's; the list is the notifications API ---- */
  const bell = document.getElementById("bell");
  const panel = document.getElementById("bell-panel");
  const bellList = document.getElementById("bell-list");
  const bellCount = document.getElementById("bell-count");
  async function loadNotifications() {
    bellList.replaceChildren();
    let body = { results: [] };
    try {
      const response = await fetch(bell.dataset.listUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) body = await response.json();
    } catch (error) { /* shown as empty */ }
    const items = body.results || [];
    if (!items.length) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = "You are all caught up.";
      bellList.append(li);
    }
    for (const item of items) {
      const li = document.createElement("li");
      li.className = item.read_at ? "" : "unread";
      const strong = document.createElement("strong");
      const leadId = item.data && item.data.lead_id;
      if (leadId) {
        const a = document.createElement("a");
        a.href = `/leads/${encodeURIComponent(leadId)}/`;
        a.textContent = item.title;
        strong.append(a);
      } else strong.textContent = item.title;
      const small = document.createElement("small");
      small.textContent = `${item.body ? `${item.body} · ` : ""}${new Date(item.created_at).toLocaleString()}`;
      li.append(strong, small);
      bellList.append(li);
    }
  }
  bell?.addEventListener("click", () => {
    const show = panel.hidden;
    panel.hidden = !show;
    bell.setAttribute("aria-expanded", String(show));
    if (show) loadNotifications();
  });
  document.getElementById("bell-read")?.addEventListener("click", async () => {
    const { ok } = await post(bell.dataset.readUrl, JSON.stringify({}), { "Content-Type": "application/json" });
    if (!ok) { say("Could not mark them read.", "error"); return; }
    bellCount.hidden = true;
    bellCount.dataset.count = "0";
    bellList.querySelectorAll(".unread").forEach((li) => li.classList.remove("unread"));
    say("Notifications marked read.");
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && panel && !panel.hidden) { panel.hidden = true; bell.setAttribute("aria-expanded", "false"); bell.focus(); }
  });

  window.LeadPulse = { say, post, csrf, remember, later };
})();
