/* LeadPulse records: the composer's tabs and in-place field edits on record pages. Without this file the
   composer shows both of its forms and each field is changed through the record's Edit page. */
(() => {
  "use strict";

  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

  function say(text, kind = "success") {
    const flash = document.getElementById("flash");
    if (!flash) return;
    const p = document.createElement("p");
    p.className = `msg ${kind}`;
    p.textContent = text;
    flash.replaceChildren(p);
    if (kind !== "error") setTimeout(() => { if (p.parentElement === flash) p.remove(); }, 5000);
  }

  /* The composer: one pane at a time, chosen by its tab. */
  function composer(root) {
    const tabs = [...root.querySelectorAll("[data-tab]")];
    const panes = [...root.querySelectorAll("[data-pane]")];
    if (tabs.length < 2) return;
    const group = root.querySelector(".composer-tabs");
    group.setAttribute("role", "tablist");
    const show = (name, focus) => {
      tabs.forEach((tab) => {
        const on = tab.dataset.tab === name;
        tab.setAttribute("aria-selected", on ? "true" : "false");
        tab.tabIndex = on ? 0 : -1;
        if (on && focus) tab.focus();
      });
      panes.forEach((pane) => { pane.hidden = pane.dataset.pane !== name; });
    };
    tabs.forEach((tab, index) => {
      const pane = panes.find((candidate) => candidate.dataset.pane === tab.dataset.tab);
      tab.setAttribute("role", "tab");
      tab.id = tab.id || `composer-tab-${tab.dataset.tab}`;
      if (pane) {
        tab.setAttribute("aria-controls", pane.id);
        pane.setAttribute("role", "tabpanel");
        pane.setAttribute("aria-labelledby", tab.id);
      }
      tab.addEventListener("click", (event) => { event.preventDefault(); show(tab.dataset.tab, false); });
      tab.addEventListener("keydown", (event) => {
        if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
        const step = event.key === "ArrowRight" ? 1 : -1;
        show(tabs[(index + step + tabs.length) % tabs.length].dataset.tab, true);
      });
    });
    show(tabs[0].dataset.tab, false);
  }

  /* In-place edits: each dd[data-inline-field] in a dl[data-inline-url] gets an Edit button that opens a
     one-field form; saving posts that field alone (the Edit page's URL answers JSON to a script). */
  function inline(list) {
    const url = list.dataset.inlineUrl;
    list.querySelectorAll("dd[data-inline-field]").forEach((cell) => {
      const name = cell.dataset.inlineField;
      const label = cell.dataset.inlineLabel || name;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link inline-edit";
      button.textContent = "Edit";
      button.setAttribute("aria-label", `Edit ${label}`);
      cell.append(" ", button);
      button.addEventListener("click", () => open(cell, name, label, url, button));
    });
  }

  function open(cell, name, label, url, button) {
    const saved = [...cell.childNodes];
    const form = document.createElement("form");
    form.className = "inline-form";
    const id = `inline-${name}`;
    form.innerHTML = `<label class="sr-only" for="${id}"></label><input id="${id}" name="${name}">` +
      '<button type="submit" class="primary">Save</button> <button type="button" class="cancel">Cancel</button>' +
      `<span class="field-error" role="alert" id="${id}-error"></span>`;
    form.querySelector("label").textContent = label;
    const input = form.querySelector("input");
    input.value = cell.dataset.value || "";
    const error = form.querySelector(".field-error");
    const close = (focus = true) => {
      cell.replaceChildren(...saved);
      if (focus) button.focus();
    };
    form.querySelector(".cancel").addEventListener("click", () => close());
    input.addEventListener("keydown", (event) => { if (event.key === "Escape") close(); });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData();
      data.append(name, input.value);
      try {
        const response = await fetch(url, {
          method: "POST",
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrf(), "X-Requested-With": "fetch", Accept: "application/json" },
          body: data,
        });
        let body = {};
        try { body = await response.json(); } catch (problem) { body = {}; }
        if (!response.ok) {
          error.textContent = (body.errors && body.errors[name] && body.errors[name][0]) || body.message ||
            `That did not work (${response.status}).`;
          input.setAttribute("aria-invalid", "true");
          input.setAttribute("aria-describedby", error.id);
          input.focus();
          return;
        }
        const shown = (body.fields && body.fields[name]) ?? input.value;
        cell.dataset.value = shown;
        const text = saved.find((node) => node.nodeType === Node.TEXT_NODE && node.textContent.trim()) ||
          saved.find((node) => node.nodeType === Node.ELEMENT_NODE && node !== button);
        if (text) text.textContent = shown || "–";
        close();
        if (name === "name") document.querySelectorAll("h1").forEach((h1) => {
          if (h1.firstChild && h1.firstChild.nodeType === Node.TEXT_NODE) h1.firstChild.textContent = `${shown} `;
        });
        say(body.message || "Saved.");
      } catch (problem) {
        error.textContent = "The server could not be reached. Try again.";
      }
    });
    cell.replaceChildren(form);
    input.focus();
  }

  function start() {
    document.querySelectorAll("[data-composer]").forEach(composer);
    document.querySelectorAll("dl[data-inline-url]").forEach(inline);
    document.querySelectorAll("input[data-copy]").forEach((input) => {
      input.addEventListener("focus", () => input.select());
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
