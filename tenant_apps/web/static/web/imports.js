/* Imports: progress live from the stream's import.progress events and, whatever the stream does, polled from
   the imports API while a run is unfinished (so a run always reaches "Done" on screen without a reload);
   cancel and revert through the API; and a preview of how the chosen file's columns map to fields. */
(() => {
  "use strict";
  const list = document.getElementById("imports");
  if (!list) return;
  const FINISHED = ["done", "failed", "cancelled", "reverted"];
  const labels = { queued: "Queued", running: "Running", done: "Done", failed: "Failed", cancelled: "Cancelled", reverting: "Reverting", reverted: "Reverted" };
  const urlFor = (template, id) => template.replace("/0/", `/${encodeURIComponent(id)}/`);

  function show(id, figures) {
    const row = document.getElementById(`import-${id}`);
    if (!row) return;
    if (figures.progress !== undefined) {
      const percent = Math.round((Number(figures.progress) || 0) * 100);
      row.querySelector("progress").value = percent;
      row.querySelector("progress").textContent = `${percent}%`;
      row.querySelector('[data-field="percent"]').textContent = `${percent}%`;
    }
    for (const key of ["imported", "updated", "skipped", "failed", "warnings"]) {
      if (figures[key] !== undefined) row.querySelector(`[data-field="${key}"]`).textContent = figures[key];
    }
    if (figures.status) {
      row.dataset.status = figures.status;
      row.querySelector('[data-field="status"]').textContent = labels[figures.status] || figures.status;
    }
    const count = (key) => Number(row.querySelector(`[data-field="${key}"]`).textContent) || 0;
    row.querySelector('[data-field="errors"]').hidden = !(count("failed") || count("skipped") || count("warnings"));
    const status = row.dataset.status;
    row.querySelector('[data-action="cancel"]').hidden = !["queued", "running"].includes(status);
    row.querySelector('[data-action="revert"]').hidden = status !== "done" || row.dataset.dryRun === "true" || row.dataset.recordType === "task";
  }

  let polling = false;
  async function poll() {
    if (polling) return;
    polling = true;
    try {
      for (const row of list.querySelectorAll(".import")) {
        if (FINISHED.includes(row.dataset.status)) continue;
        const response = await fetch(urlFor(list.dataset.detailUrl, row.dataset.id), { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (response.status === 401) { window.location.reload(); return; }
        if (response.ok) show(row.dataset.id, await response.json());
      }
    } catch (error) { /* the next tick tries again */ } finally { polling = false; }
  }
  setInterval(poll, 1500);
  poll();

  if (window.EventSource) {
    const source = new EventSource(list.dataset.stream);
    source.addEventListener("import.progress", (message) => {
      try {
        const event = JSON.parse(message.data);
        show(event.record_id, event.data || {});
      } catch (error) { /* not ours */ }
    });
  }

  list.addEventListener("click", async (event) => {
    const button = event.target instanceof Element ? event.target.closest("button[data-action]") : null;
    if (!button || !window.LeadPulse) return;
    const row = button.closest(".import");
    const verb = button.dataset.action;
    if (verb === "revert" && !window.confirm("Revert this import? What it created is deleted and what it updated is put back.")) return;
    button.disabled = true;
    const { ok, status, body } = await window.LeadPulse.post(urlFor(list.dataset[`${verb}Url`], row.dataset.id), "{}", { "Content-Type": "application/json" });
    button.disabled = false;
    if (!ok) { window.LeadPulse.say(body.message || `That did not work (${status}).`, "error"); return; }
    show(row.dataset.id, body);
    window.LeadPulse.say(verb === "cancel" ? "Import cancelled." : "Revert started.");
  });

  /* ---- the mapping preview: the file's header and first rows, matched as the importer matches ---- */
  const form = document.getElementById("import-form");
  const fields = JSON.parse(document.getElementById("import-fields")?.textContent || "{}");
  const fileInput = form?.querySelector('input[type="file"]');
  const typeSelect = form?.querySelector('select[name="record_type"]');
  const mappingInput = form?.querySelector('input[name="mapping"]');
  const panel = document.getElementById("mapping");
  const rowsBody = document.getElementById("mapping-rows");
  const summary = document.getElementById("mapping-summary");
  let parsed = null;

  const headerKey = (name) => name.trim().toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
  function splitLine(line, delimiter) {
    const cells = [];
    let cell = "";
    let quoted = false;
    for (let i = 0; i < line.length; i += 1) {
      const char = line[i];
      if (quoted) {
        if (char === '"' && line[i + 1] === '"') { cell += '"'; i += 1; } else if (char === '"') quoted = false; else cell += char;
      } else if (char === '"') quoted = true;
      else if (char === delimiter) { cells.push(cell); cell = ""; } else cell += char;
    }
    cells.push(cell);
    return cells.map((value) => value.trim());
  }
  function parse(text) {
    const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/).filter((line) => line.trim());
    if (!lines.length) return null;
    const delimiter = [",", ";", "\t", "|"].reduce((best, candidate) => (lines[0].split(candidate).length > lines[0].split(best).length ? candidate : best), ",");
    return { header: splitLine(lines[0], delimiter), samples: lines.slice(1, 4).map((line) => splitLine(line, delimiter)) };
  }
  function render() {
    if (!parsed || !typeSelect) return;
    const spec = fields[typeSelect.value];
    if (!spec) return;
    rowsBody.replaceChildren();
    const taken = new Set();
    parsed.header.forEach((name, index) => {
      const key = headerKey(name);
      let guess = spec.fields.includes(key) ? key : spec.aliases[key] || "";
      if (taken.has(guess)) guess = "";
      if (guess) taken.add(guess);
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = name || `(column ${index + 1})`;
      const sample = document.createElement("td");
      sample.textContent = parsed.samples.map((cells) => cells[index] || "").filter(Boolean).join(" · ") || "–";
      const choice = document.createElement("td");
      const select = document.createElement("select");
      select.dataset.column = name || String(index + 1);
      select.setAttribute("aria-label", `Field for the column ${name || index + 1}`);
      for (const option of ["", ...spec.fields]) {
        const element = document.createElement("option");
        element.value = option;
        element.textContent = option ? option + (spec.required.includes(option) ? " (required)" : "") : "(ignore)";
        element.selected = option === guess;
        select.append(element);
      }
      choice.append(select);
      tr.append(th, sample, choice);
      rowsBody.append(tr);
    });
    panel.hidden = false;
    check();
  }
  function check() {
    const spec = fields[typeSelect.value];
    const chosen = [...rowsBody.querySelectorAll("select")].map((select) => select.value).filter(Boolean);
    const missing = spec.required.filter((field) => !chosen.includes(field));
    const doubled = chosen.filter((field, index) => chosen.indexOf(field) !== index);
    summary.textContent = missing.length
      ? `Choose a column for ${missing.join(", ")} (required).`
      : doubled.length ? `Two columns fill ${doubled[0]}: choose one.` : `${chosen.length} of ${parsed.header.length} columns will be imported.`;
    const mapping = {};
    rowsBody.querySelectorAll("select").forEach((select) => { mapping[select.dataset.column] = select.value || null; });
    mappingInput.value = JSON.stringify(mapping);
    return !missing.length && !doubled.length;
  }
  rowsBody?.addEventListener("change", check);
  typeSelect?.addEventListener("change", render);
  function preview() {
    const file = fileInput.files && fileInput.files[0];
    mappingInput.value = "";
    parsed = null;
    panel.hidden = true;
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => {
      parsed = parse(String(reader.result || ""));
      if (parsed) render();
    };
    reader.readAsText(file.slice(0, 65536));
  }
  fileInput?.addEventListener("change", preview);
  // a file chosen before this script ran (a slow load, or the browser restoring the form on "back")
  if (fileInput?.files?.length) preview();
  form?.addEventListener("submit", (event) => {
    if (parsed && !check()) { event.preventDefault(); summary.focus?.(); window.LeadPulse?.say(summary.textContent, "error"); }
  });
})();
