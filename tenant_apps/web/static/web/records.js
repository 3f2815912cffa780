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

  /* A custom field's input comes from the page (a <template> holding the edit form's input for its type:
     a select, boxes to tick, a date, an amount and a currency); built-in fields get a text box. */
  function controls(cell, id, label) {
    const template = cell.dataset.inlineTemplate && document.getElementById(cell.dataset.inlineTemplate);
    if (!template) {
      const wrap = document.createElement("span");
      wrap.innerHTML = `<label class="sr-only" for="${id}"></label><input id="${id}" name="${cell.dataset.inlineField}">`;
      wrap.querySelector("label").textContent = label;
      wrap.querySelector("input").value = cell.dataset.value || "";
      return wrap;
    }
    const group = document.createElement("span");
    group.className = "inline-group";
    group.append(template.content.cloneNode(true));
    const fields = group.querySelectorAll("input, select, textarea");
    if (fields.length === 1 && !fields[0].closest("label")) fields[0].setAttribute("aria-label", label);
    else { group.setAttribute("role", "group"); group.setAttribute("aria-label", label); }
    return group;
  }

  /* What the user chose, written into the template so that the next edit starts from the saved value. */
  function keep(cell, group) {
    const template = cell.dataset.inlineTemplate && document.getElementById(cell.dataset.inlineTemplate);
    if (!template) return;
    group.querySelectorAll("input").forEach((input) => {
      if (input.type === "checkbox" || input.type === "radio") input.toggleAttribute("checked", input.checked);
      else input.setAttribute("value", input.value);
    });
    group.querySelectorAll("select option").forEach((option) => option.toggleAttribute("selected", option.selected));
    group.querySelectorAll("textarea").forEach((area) => { area.textContent = area.value; });
    template.content.replaceChildren(...[...group.childNodes].map((node) => node.cloneNode(true)));
  }

  function open(cell, name, label, url, button) {
    const saved = [...cell.childNodes];
    const form = document.createElement("form");
    form.className = "inline-form";
    const id = `inline-${name}`;
    const group = controls(cell, id, label);
    form.append(group);
    form.insertAdjacentHTML("beforeend",
      '<button type="submit" class="primary">Save</button> <button type="button" class="cancel">Cancel</button>' +
      `<span class="field-error" role="alert" id="${id}-error"></span>`);
    const input = group.querySelector("input, select, textarea");
    const error = form.querySelector(".field-error");
    const close = (focus = true) => {
      cell.replaceChildren(...saved);
      if (focus) button.focus();
    };
    form.querySelector(".cancel").addEventListener("click", () => close());
    form.addEventListener("keydown", (event) => { if (event.key === "Escape") close(); });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      if (name.startsWith("custom.")) {
        data.append("custom_inputs", "1"); // the form's marker: its custom inputs were posted
        data.append("inline", name); // posted whole, even when nothing is ticked
      }
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
        keep(cell, group);
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
