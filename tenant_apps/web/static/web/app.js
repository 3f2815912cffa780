/* LeadPulse: small enhancements over server-rendered pages. Every form works without this file; with it,
   forms marked data-fetch post in place and "Older activity" links append instead of reloading. */
(() => {
  "use strict";

  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

  /* One live region for every message, so screen readers hear them. */
  function say(text, kind = "success") {
    const flash = document.getElementById("flash");
    if (!flash) return;
    const p = document.createElement("p");
    p.className = `msg ${kind}`;
    p.textContent = text;
    flash.replaceChildren(p);
    if (kind !== "error") {
      setTimeout(() => { if (p.parentElement === flash) p.remove(); }, 5000);
    }
  }

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

  window.LeadPulse = { say, post, csrf };
})();
