/* The deals board: drag a card to another stage of the pipeline (or use its "Move to" menu); a lost stage
   asks for a lost reason first. The move is posted to the server, which refuses what the service refuses
   (the card snaps back with the reason). Copied down from pipeline.js (the lead board), kept apart. */
(() => {
  "use strict";
  const board = document.getElementById("deals-board");
  if (!board || !window.LeadPulse) return;
  const { say, post } = window.LeadPulse;
  const dialog = document.getElementById("lost-dialog");
  const columnOf = (stage) => board.querySelector(`.column[data-stage="${CSS.escape(stage)}"]`);
  const urlFor = (id) => board.dataset.moveUrl.replace("/0/", `/${encodeURIComponent(id)}/`);

  function askLostReason() {
    return new Promise((resolve) => {
      if (!dialog || typeof dialog.showModal !== "function") { resolve(null); return; }
      dialog.returnValue = "";
      dialog.addEventListener("close", () => {
        if (dialog.returnValue !== "ok") { resolve(null); return; }
        resolve({
          lost_reason: dialog.querySelector("[name=lost_reason]").value,
          reason: dialog.querySelector("[name=reason]").value,
        });
      }, { once: true });
      dialog.showModal();
    });
  }

  function recount(column, delta) {
    const count = column?.querySelector("[data-count]");
    if (count) count.textContent = String(Math.max(0, Number(count.textContent) + delta));
  }

  async function move(card, stage) {
    const fromStage = card.dataset.stage;
    const target = columnOf(stage);
    if (!target || stage === fromStage || card.classList.contains("pending")) return;
    const data = new URLSearchParams({ stage });
    if (target.dataset.lost === "true") {
      const answer = await askLostReason();
      if (!answer) return;
      data.set("lost_reason", answer.lost_reason);
      data.set("reason", answer.reason);
    }
    const origin = card.parentElement;
    const next = card.nextElementSibling;
    target.querySelector("ol.cards").prepend(card);
    card.classList.add("pending");
    let result;
    try {
      result = await post(urlFor(card.dataset.id), data, { "Content-Type": "application/x-www-form-urlencoded" });
    } catch (error) {
      result = { ok: false, status: 0, body: { message: "The server could not be reached; the card was put back." } };
    }
    card.classList.remove("pending");
    if (!result.ok) {
      if (next && next.parentElement === origin) origin.insertBefore(card, next);
      else origin.appendChild(card);
      card.classList.add("refused");
      setTimeout(() => card.classList.remove("refused"), 600);
      say(result.body.message || `The move was refused (${result.status}).`, "error");
      return;
    }
    card.dataset.stage = stage;
    recount(columnOf(fromStage), -1);
    recount(target, 1);
    if (target.dataset.closed === "true") {
      card.removeAttribute("draggable");
      card.querySelector("form.move")?.remove();
    }
    say(result.body.message || "Moved.");
  }

  let dragged = null;
  board.addEventListener("dragstart", (event) => {
    const card = event.target instanceof Element ? event.target.closest(".card[draggable='true']") : null;
    if (!card) return;
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.id);
    card.classList.add("dragging");
  });
  board.addEventListener("dragend", () => {
    dragged?.classList.remove("dragging");
    dragged = null;
    board.querySelectorAll(".column").forEach((column) => column.classList.remove("over"));
  });
  board.addEventListener("dragover", (event) => {
    const column = event.target instanceof Element ? event.target.closest(".column") : null;
    if (!dragged || !column || column.dataset.stage === dragged.dataset.stage) return;
    event.preventDefault();
    column.classList.add("over");
  });
  board.addEventListener("dragleave", (event) => {
    const column = event.target instanceof Element ? event.target.closest(".column") : null;
    column?.classList.remove("over");
  });
  board.addEventListener("drop", (event) => {
    const column = event.target instanceof Element ? event.target.closest(".column") : null;
    if (!dragged || !column) return;
    event.preventDefault();
    column.classList.remove("over");
    move(dragged, column.dataset.stage);
  });
  /* the "Move to" menu: with this script, it moves in place (and asks why for a lost stage) */
  board.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("move")) return;
    event.preventDefault();
    move(form.closest(".card"), form.querySelector("[name=stage]").value);
  });
})();
