/* The lead list and the deal table: the filter panel open on wide screens (folded on a phone so the first lead is in view),
   sorting on change, and bulk actions on the ticked rows with each refused row's reason shown on it. */
(() => {
  "use strict";
  const panel = document.getElementById("filter-panel");
  if (panel && window.matchMedia("(min-width: 700px)").matches) panel.open = true;

  const sortForm = document.getElementById("sort-form");
  sortForm?.querySelector("select")?.addEventListener("change", () => sortForm.submit());

  const form = document.getElementById("bulk-form");
  const rows = document.getElementById("lead-rows") || document.getElementById("deal-rows");
  const noun = form?.dataset.noun || "lead";
  if (!form || !rows || !window.LeadPulse) return;
  const { say, post } = window.LeadPulse;
  const picks = () => [...document.querySelectorAll('input[name="ids"][form="bulk-form"]')];
  const all = document.getElementById("select-all");
  const count = document.getElementById("selected-count");
  const verb = document.getElementById("bulk-action");

  function refresh() {
    const ticked = picks().filter((box) => box.checked).length;
    count.textContent = `${ticked} selected`;
    all.checked = ticked > 0 && ticked === picks().length;
    all.indeterminate = ticked > 0 && ticked < picks().length;
    document.getElementById("bulk-apply").disabled = ticked === 0;
  }
  function showFields() {
    form.querySelectorAll("[data-for]").forEach((field) => { field.hidden = !field.dataset.for.split(" ").includes(verb.value); });
  }
  all.addEventListener("change", () => { picks().forEach((box) => { box.checked = all.checked; }); refresh(); });
  rows.addEventListener("change", (event) => { if (event.target.name === "ids") refresh(); });
  verb.addEventListener("change", showFields);
  showFields();
  refresh();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    for (const box of picks()) if (box.checked) data.append("ids", box.value);
    if (verb.value === "delete" && !window.confirm(`Move ${data.getAll("ids").length} ${noun}(s) to the trash?`)) return;
    rows.querySelectorAll("[data-row-error]").forEach((p) => { p.hidden = true; p.textContent = ""; });
    const button = document.getElementById("bulk-apply");
    button.disabled = true;
    let result;
    try {
      result = await post(form.getAttribute("action"), data);
    } catch (error) {
      say("The server could not be reached. Try again.", "error");
      button.disabled = false;
      return;
    }
    const { body } = result;
    if (!body.done) { say(body.message || `That did not work (${result.status}).`, "error"); button.disabled = false; return; }
    for (const error of body.errors || []) {
      const slot = document.querySelector(`#row-${error.id} [data-row-error]`);
      if (slot) { slot.textContent = `Not done: ${error.message}`; slot.hidden = false; }
    }
    say(body.message, body.errors && body.errors.length ? "error" : "success");
    if (!(body.errors || []).length) {
      window.LeadPulse.later(body.message); // every row changed: show them as they are now, then the toast
      window.location.reload();
      return;
    }
    // some were refused: keep them ticked with their reasons; the others are untouched on screen until reload
    for (const id of body.done) {
      const box = document.getElementById(`pick-${id}`);
      if (box) box.checked = false;
      document.getElementById(`row-${id}`)?.classList.add("changed");
    }
    refresh();
  });
})();
