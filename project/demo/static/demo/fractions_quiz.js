/* The demo quiz: plays the questions on the page and reports through the
   browser kit (timeback_progress/activity.js, its URL in the kit's config). */
const config = JSON.parse(document.getElementById("timeback-activity-config").textContent);
const texts = JSON.parse(document.getElementById("quiz-texts").textContent);
const kit = await import(config.module);

const form = document.getElementById("quiz");
const status = document.getElementById("quiz-status");
const pauseButton = document.getElementById("quiz-pause");
const result = document.getElementById("quiz-result");
const number = new Intl.NumberFormat(document.documentElement.lang || undefined, { maximumFractionDigits: 2 });
const fill = (text, values) => text.replace(/\{(\w+)\}/g, (_, key) => values[key]);
const clock = (ms) => { const s = Math.floor(ms / 1000); return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`; };
let paused = false;
let finished = false;

function showState() {
  if (finished) return;
  const state = kit.getState();
  let text = fill(paused ? texts.paused : texts.running, { active: clock(state.activeMs) });
  if (state.queued) text += ` · ${fill(texts.queued, { queued: state.queued })}`;
  status.textContent = text;
}

document.addEventListener("timeback:progress", (event) => {
  const detail = event.detail;
  if (detail.type === "error" && detail.kind === "submit" && detail.status >= 400 && detail.status < 500) {
    status.textContent = fill(texts.error, { status: detail.status });
  } else {
    showState();
  }
});

kit.startActivity();
showState();
setInterval(showState, 5000);

pauseButton.addEventListener("click", () => {
  paused = !paused;
  if (paused) kit.pause(); else kit.resume();
  pauseButton.textContent = paused ? texts.resume : texts.pause;
  pauseButton.setAttribute("aria-pressed", String(paused));
  form.querySelectorAll("fieldset").forEach((set) => { set.disabled = paused; });
  showState();
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const sets = [...form.querySelectorAll("fieldset")];
  const left = sets.filter((set) => !set.querySelector("input:checked")).length;
  if (left) { status.textContent = fill(texts.unanswered, { n: left }); return; }
  const correct = sets.filter((set) => set.querySelector("input:checked").value === set.dataset.answer).length;
  status.textContent = texts.saving;
  // No need to disable the button: however often it is clicked, the kit completes the run once.
  const outcome = await kit.endActivity({ totalQuestions: sets.length, correctQuestions: correct });
  finished = true;
  status.textContent = "";
  form.querySelector(".quiz-actions").hidden = true;
  form.querySelectorAll("fieldset").forEach((set) => { set.disabled = true; });
  const shown = {
    xpEarned: number.format(outcome.xpEarned),
    accuracy: outcome.accuracy == null ? "–" : `${number.format(outcome.accuracy)} %`,
    multiplier: outcome.multiplier == null ? "–" : `× ${number.format(outcome.multiplier)}`,
    masteredUnits: outcome.masteredUnits == null ? "–" : number.format(outcome.masteredUnits),
  };
  for (const [key, value] of Object.entries(shown)) result.querySelector(`[data-result="${key}"]`).textContent = value;
  result.dataset.runId = outcome.runId;
  result.hidden = false;
  result.focus();
});
