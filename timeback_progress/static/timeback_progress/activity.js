/* timeback_progress activity kit: measures a learning activity on its page and
   reports it with the vendor timeback-sdk 0.4.0 protocol (POST activity/heartbeat,
   POST activity/submit, GET user/me). A plain ES module, no dependencies.

   Time, as Timeback defines it: ACTIVE while the page is visible and the student
   gave input within the idle limit; INACTIVE while visible but idle; nothing at
   all while hidden, paused (pause()), frozen or asleep. Every heartbeat carries
   one window: elapsedMs = active, pausedMs = inactive (the vendor's server maps
   them to the Caliper "active" and "inactive" metrics).

   Nothing is lost: every request goes through a queue kept in localStorage,
   sent in order, one at a time; a failed send stays first in line and is
   retried (backoff, and at once when the browser is back online), also after
   a reload. The run id is kept per activity, so a reload resumes the same run,
   and the server de-duplicates windows (runId + startedAt) and completions (runId).
   Docs: docs/howto-activity-tracking.md. */

const CONFIG_ID = "timeback-activity-config";
const QUEUE_KEY = "timeback:queue";
const RUN_KEY = "timeback:run:";
const INPUTS = ["pointerdown", "keydown", "wheel", "touchstart", "mousemove", "scroll", "input"];

export const DEFAULTS = {
  heartbeatSeconds: 15, // the vendor's interval: one window per heartbeat
  idleSeconds: 60, // no input for this long: the time is inactive
  sleepSlackSeconds: 10, // a heartbeat later than interval + this: the device slept, the gap is not counted
  maxBackoffSeconds: 60,
  event: "timeback:progress",
};

/* The XP hint the vendor's submit requires (metrics.xpEarned). This app's server
   computes XP itself from its rules and ignores the hint unless told to trust it.
   Timeback's rule: expected XP (or, without it, 1 XP per active minute) x 1.25 at
   100%, x 1 at 80% or more, 0 below; the attempt number is the server's to know. */
export function xpHint({ totalQuestions, correctQuestions, expectedXp, activeMs = 0 }) {
  if (!totalQuestions) return 0;
  const base = expectedXp == null ? activeMs / 60000 : Number(expectedXp);
  const multiplier = correctQuestions >= totalQuestions ? 1.25 : correctQuestions * 100 >= 80 * totalQuestions ? 1 : 0;
  return Math.round(base * multiplier * 100) / 100;
}

/* The time meter alone (pure; times are epoch ms): advance() classifies the span
   since the last call, take() closes the window and opens the next. */
export function createMeter({ idleMs, maxGapMs, now }) {
  const m = { counting: false, last: now, lastInput: now, windowStart: now, active: 0, inactive: 0 };
  m.advance = (t) => {
    const from = m.last;
    m.last = Math.max(t, from);
    if (!m.counting || t <= from || t - from > maxGapMs) return; // not counted, or asleep
    const activeUntil = Math.min(t, Math.max(from, m.lastInput + idleMs));
    m.active += activeUntil - from;
    m.inactive += t - activeUntil;
  };
  m.input = (t) => { m.advance(t); m.lastInput = Math.max(m.lastInput, t); };
  m.setCounting = (t, on) => {
    m.advance(t);
    if (on && !m.counting) m.lastInput = t; // coming back (visible, resumed) is an interaction
    m.counting = on;
  };
  m.take = (t) => {
    m.advance(t);
    const window = { start: m.windowStart, end: Math.max(m.last, m.windowStart), active: m.active, inactive: m.inactive };
    m.windowStart = window.end;
    m.active = m.inactive = 0;
    return window;
  };
  return m;
}

function browserEnv() {
  const ls = (() => { try { return window.localStorage; } catch { return null; } })();
  return {
    now: () => Date.now(),
    setTimeout: (f, ms) => setTimeout(f, ms),
    clearTimeout: (h) => clearTimeout(h),
    doc: document,
    win: window,
    fetch: (url, init) => fetch(url, init),
    storage: ls,
    uuid: () => (crypto.randomUUID ? crypto.randomUUID() : uuid4()),
  };
}

function uuid4() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 15) | 64;
  b[8] = (b[8] & 63) | 128;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function readConfig(doc) {
  const node = doc && doc.getElementById && doc.getElementById(CONFIG_ID);
  return node ? JSON.parse(node.textContent) : {};
}

/* One tracker per page. options: the rendered config ({endpoints: {heartbeat,
   submit, me}, csrfToken, csrfCookieName, token, activity: {id, name, course,
   expectedXp}, heartbeatSeconds, idleSeconds, ...}) and env (clock, document,
   window, fetch, storage, uuid; the browser's by default, fakes in tests). */
export function createTracker(options = {}) {
  const env = { ...(options.env ? {} : browserEnv()), ...options.env };
  const cfg = { ...DEFAULTS, ...readConfig(env.doc), ...options };
  const memory = {};
  const store = {
    get: (k) => { try { return JSON.parse(env.storage ? env.storage.getItem(k) : memory[k] ?? null); } catch { return null; } },
    set: (k, v) => { try { env.storage ? env.storage.setItem(k, JSON.stringify(v)) : (memory[k] = JSON.stringify(v)); } catch { memory[k] = JSON.stringify(v); } },
    del: (k) => { try { env.storage ? env.storage.removeItem(k) : delete memory[k]; } catch { delete memory[k]; } },
  };
  const iso = (t) => new Date(t).toISOString();
  const heartbeatMs = cfg.heartbeatSeconds * 1000;
  let run = null; // {activityId, name, course, expectedXp, runId, startedAt, activeMs, inactiveMs, ended}
  let meter = null;
  let running = false;
  const page = { hidden: env.doc.visibilityState === "hidden", frozen: false, gone: false };
  let beat = null;
  let retry = null;
  let failures = 0;
  let draining = null;
  let again = false;
  let ending = null;
  const waiters = new Map(); // runId -> {resolve, reject} of endActivity()

  const queue = () => store.get(QUEUE_KEY) || [];
  const emit = (detail) => env.doc.dispatchEvent(new CustomEvent(cfg.event, { detail }));
  const counting = () => running && !page.hidden && !page.frozen && !page.gone;
  const saveRun = () => run && store.set(RUN_KEY + run.activityId, run);

  function headers() {
    const h = { "Content-Type": "application/json", Accept: "application/json" };
    if (cfg.token) h.Authorization = `${cfg.tokenKeyword || "Token"} ${cfg.token}`;
    else {
      const cookie = cfg.csrfCookieName && (env.doc.cookie || "").split("; ").find((c) => c.startsWith(cfg.csrfCookieName + "="));
      const token = cookie ? decodeURIComponent(cookie.split("=")[1]) : cfg.csrfToken;
      if (token) h["X-CSRFToken"] = token;
    }
    return h;
  }
  const request = (url, init = {}) => env.fetch(url, {
    ...init, headers: headers(), credentials: cfg.token ? "omit" : "same-origin", mode: "cors",
  });

  function enqueue(kind, body) {
    const items = queue();
    items.push({ kind, url: cfg.endpoints[kind], body });
    store.set(QUEUE_KEY, items);
  }

  /* Close the current window; queue it when it holds any time. */
  function closeWindow() {
    if (!meter) return;
    const w = meter.take(env.now());
    if (w.active + w.inactive <= 0) return;
    run.activeMs += w.active;
    run.inactiveMs += w.inactive;
    saveRun();
    enqueue("heartbeat", {
      id: run.activityId, name: run.name, course: run.course, runId: run.runId,
      startedAt: iso(w.start), endedAt: iso(w.end), elapsedMs: Math.round(w.active), pausedMs: Math.round(w.inactive),
    });
  }

  /* Send the queue in order, one request at a time. keepalive: the page is going away. */
  function drain(keepalive = false) {
    if (draining) { again = true; return draining; } // its loop may be past the last item: go round once more
    again = false;
    env.clearTimeout(retry);
    retry = null;
    draining = (async () => {
      for (;;) {
        const item = queue()[0];
        if (!item) return;
        let response;
        try {
          response = await request(item.url, { method: "POST", body: JSON.stringify(item.body), keepalive });
        } catch {
          response = null; // offline, DNS, CORS refused: try again later
        }
        const status = response ? response.status : 0;
        if (!response || status >= 500 || [401, 403, 408, 429].includes(status)) {
          failures += 1;
          const after = Number(response && response.headers && response.headers.get("Retry-After")) * 1000;
          retry = env.setTimeout(() => drain(), Math.min(cfg.maxBackoffSeconds * 1000, after || 1000 * 2 ** failures));
          if (response) emit({ type: "error", status, kind: item.kind, queued: queue().length });
          return;
        }
        failures = 0;
        const rest = queue();
        if (rest.length && JSON.stringify(rest[0]) === JSON.stringify(item)) rest.shift();
        store.set(QUEUE_KEY, rest);
        await settle(item, response);
      }
    })().finally(() => {
      draining = null;
      if (again && !retry) drain(keepalive);
    });
    return draining;
  }

  async function settle(item, response) {
    let data = {};
    try { data = response.status === 204 ? {} : await response.json(); } catch { data = {}; }
    const waiter = waiters.get(item.body.runId);
    if (!response.ok) { // refused for good (400, 404, 409...): dropped, so the queue moves on
      emit({ type: "error", status: response.status, kind: item.kind, body: data, runId: item.body.runId });
      if (item.kind === "submit" && waiter) { waiters.delete(item.body.runId); waiter.reject(Object.assign(new Error("submit refused"), { status: response.status, body: data })); }
      return;
    }
    if (item.kind === "heartbeat") {
      emit({ type: "time", runId: item.body.runId, activityId: item.body.id, elapsedMs: item.body.elapsedMs, pausedMs: item.body.pausedMs });
      return;
    }
    // This app answers with the completion; a server that answers 204 (the vendor's) leaves the hint.
    const result = {
      xpEarned: data.xpEarned ?? item.body.metrics.xpEarned,
      accuracy: data.accuracy ?? null,
      multiplier: data.multiplier ?? null,
      masteredUnits: data.masteredUnits ?? null,
      attempt: data.attempt ?? null,
      duplicate: Boolean(data.duplicate),
      runId: item.body.runId,
      activityId: item.body.id,
    };
    emit({ type: "complete", ...result });
    if (waiter) { waiters.delete(item.body.runId); waiter.resolve(result); }
  }

  function schedule() {
    env.clearTimeout(beat);
    // While backing off (a retry is due), a tick only queues its window: the retry sends it.
    beat = running ? env.setTimeout(() => { closeWindow(); if (!retry) drain(); schedule(); }, heartbeatMs) : null;
  }

  function changed(t) {
    if (meter) meter.setCounting(t, counting());
  }

  /* The page is hidden or going away: its last window goes out now, with keepalive. */
  function leave() {
    if (!run || run.ended) return;
    closeWindow();
    drain(true);
  }

  const on = {
    input: () => meter && meter.input(env.now()),
    visibility: () => {
      page.hidden = env.doc.visibilityState === "hidden";
      changed(env.now());
      if (page.hidden) leave();
    },
    pagehide: () => { page.gone = true; changed(env.now()); leave(); },
    pageshow: () => { page.gone = false; changed(env.now()); drain(); },
    freeze: () => { page.frozen = true; changed(env.now()); leave(); },
    resume: () => { page.frozen = false; changed(env.now()); drain(); },
    online: () => drain(),
  };
  for (const name of INPUTS) env.doc.addEventListener(name, on.input, { capture: true, passive: true });
  env.doc.addEventListener("visibilitychange", on.visibility);
  env.doc.addEventListener("freeze", on.freeze);
  env.doc.addEventListener("resume", on.resume);
  env.win.addEventListener("pagehide", on.pagehide);
  env.win.addEventListener("pageshow", on.pageshow);
  env.win.addEventListener("online", on.online);

  const tracker = {
    /* Start (or, after a reload, continue) a run of an activity. */
    startActivity({ activityId, name, course, expectedXp } = {}) {
      const a = cfg.activity || {};
      const id = activityId || a.id;
      if (!id) throw new TypeError("startActivity needs an activityId");
      if (!cfg.endpoints) throw new Error(cfg.error || "no endpoints configured: render {% timeback_activity %} or call configure()");
      if (run && !run.ended && run.activityId === id) return tracker.state();
      if (run && !run.ended) closeWindow();
      const kept = store.get(RUN_KEY + id);
      const t = env.now();
      run = kept && !kept.ended ? kept : {
        activityId: id, runId: env.uuid(), startedAt: iso(t), activeMs: 0, inactiveMs: 0, ended: false,
      };
      Object.assign(run, {
        name: name || run.name || a.name || id,
        course: course || run.course || a.course,
        expectedXp: expectedXp ?? run.expectedXp ?? a.expectedXp ?? null,
      });
      if (!run.course) throw new TypeError("startActivity needs a course selector ({subject, grade} or {code})");
      saveRun();
      ending = null;
      meter = createMeter({ idleMs: cfg.idleSeconds * 1000, maxGapMs: heartbeatMs + cfg.sleepSlackSeconds * 1000, now: t });
      running = true;
      changed(t);
      schedule();
      drain();
      emit({ type: "state", state: "running", ...tracker.state() });
      return tracker.state();
    },
    pause() {
      if (!run || run.ended || !running) return;
      running = false;
      changed(env.now());
      closeWindow();
      schedule();
      drain();
      emit({ type: "state", state: "paused", ...tracker.state() });
    },
    resume() {
      if (!run || run.ended || running) return;
      running = true;
      changed(env.now());
      schedule();
      emit({ type: "state", state: "running", ...tracker.state() });
    },
    /* Finish the run: the last window, then the submit. Resolves with the XP the
       server awarded; one completion however often it is called. */
    endActivity({ totalQuestions, correctQuestions, masteredUnits, pctComplete } = {}) {
      if (ending) return ending;
      if (!run || run.ended) return Promise.reject(new Error("no activity running"));
      const whole = (n) => Number.isInteger(n) && n >= 0;
      if (!whole(totalQuestions) || !whole(correctQuestions) || correctQuestions > totalQuestions
          || (masteredUnits != null && !whole(masteredUnits))) {
        return Promise.reject(new TypeError("totalQuestions and correctQuestions: whole numbers, correct <= total"));
      }
      running = false;
      changed(env.now());
      closeWindow();
      schedule();
      const metrics = {
        totalQuestions, correctQuestions,
        xpEarned: xpHint({ totalQuestions, correctQuestions, expectedXp: run.expectedXp, activeMs: run.activeMs }),
      };
      if (masteredUnits != null) metrics.masteredUnits = masteredUnits;
      const body = { id: run.activityId, name: run.name, course: run.course, runId: run.runId, endedAt: iso(env.now()), metrics };
      if (pctComplete != null) body.pctComplete = pctComplete;
      ending = new Promise((resolve, reject) => waiters.set(run.runId, { resolve, reject }));
      run.ended = true;
      store.del(RUN_KEY + run.activityId);
      enqueue("submit", body);
      emit({ type: "state", state: "ended", ...tracker.state() });
      drain();
      return ending;
    },
    /* The signed-in student (the vendor's user/me: XP today and in total). */
    async getUser() {
      const response = await request(cfg.endpoints.me, { method: "GET" });
      if (!response.ok) throw Object.assign(new Error("user/me refused"), { status: response.status });
      return response.json();
    },
    state() {
      return {
        activityId: run && run.activityId, runId: run && run.runId, running, counting: counting(),
        activeMs: run ? run.activeMs + (meter ? meter.active : 0) : 0,
        inactiveMs: run ? run.inactiveMs + (meter ? meter.inactive : 0) : 0,
        queued: queue().length,
      };
    },
    flush: () => drain(),
    destroy() {
      env.clearTimeout(beat);
      env.clearTimeout(retry);
      for (const name of INPUTS) env.doc.removeEventListener(name, on.input, { capture: true });
      env.doc.removeEventListener("visibilitychange", on.visibility);
      env.doc.removeEventListener("freeze", on.freeze);
      env.doc.removeEventListener("resume", on.resume);
      env.win.removeEventListener("pagehide", on.pagehide);
      env.win.removeEventListener("pageshow", on.pageshow);
      env.win.removeEventListener("online", on.online);
    },
  };
  drain(); // what an earlier visit left in the queue
  return tracker;
}

/* The page's tracker, built on first use from the rendered config
   ({% timeback_activity %}) and anything given to configure(). */
let shared = null;
let overrides = {};
export function configure(options) { overrides = { ...overrides, ...options }; }
const tracker = () => (shared ||= createTracker(overrides));
export const startActivity = (o) => tracker().startActivity(o);
export const pause = () => tracker().pause();
export const resume = () => tracker().resume();
export const endActivity = (o) => tracker().endActivity(o);
export const getUser = () => tracker().getUser();
export const getState = () => tracker().state();
