/* Import progress: live from the stream's import.progress events; polled from the imports API while a run
   is still going and the stream is not there. */
(() => {
  "use strict";
  const list = document.getElementById("imports");
  if (!list) return;
  const FINISHED = ["done", "failed", "cancelled", "reverted"];
  const labels = { queued: "Queued", running: "Running", done: "Done", failed: "Failed", cancelled: "Cancelled", reverting: "Reverting", reverted: "Reverted" };
  let live = false;

  function show(id, figures) {
    const row = document.getElementById(`import-${id}`);
    if (!row) return;
    const percent = Math.round((Number(figures.progress) || 0) * 100);
    row.querySelector("progress").value = percent;
    row.querySelector("progress").textContent = `${percent}%`;
    row.querySelector('[data-field="percent"]').textContent = `${percent}%`;
    for (const key of ["imported", "updated", "skipped", "failed", "warnings"]) {
      if (figures[key] !== undefined) row.querySelector(`[data-field="${key}"]`).textContent = figures[key];
    }
    if (figures.status) {
      row.dataset.status = figures.status;
      row.querySelector('[data-field="status"]').textContent = labels[figures.status] || figures.status;
    }
    row.querySelector('[data-field="errors"]').hidden = !(Number(figures.failed) || Number(figures.skipped) || Number(figures.warnings));
  }

  async function poll() {
    if (live) return;
    for (const row of list.querySelectorAll(".import")) {
      if (FINISHED.includes(row.dataset.status)) continue;
      const url = list.dataset.detailUrl.replace("/0/", `/${row.dataset.id}/`);
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) show(row.dataset.id, await response.json());
    }
  }
  setInterval(poll, 2000);

  if (window.EventSource) {
    const source = new EventSource(list.dataset.stream);
    source.onopen = () => { live = true; };
    source.onerror = () => { live = false; };
    source.addEventListener("import.progress", (message) => {
      try {
        const event = JSON.parse(message.data);
        show(event.record_id, event.data || {});
      } catch (error) { /* not ours */ }
    });
  }
})();
