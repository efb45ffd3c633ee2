// The activity kit's time accounting and queue, alone: a fake clock, page,
// network and storage stand in for the browser (node --test tests/js/).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createMeter, createTracker, xpHint } from "../../timeback_progress/static/timeback_progress/activity.js";

const T0 = Date.parse("2025-01-06T10:00:00.000Z");
const COURSE = { subject: "Math", grade: 5 };
const ENDPOINTS = { heartbeat: "/api/timeback/activity/heartbeat", submit: "/api/timeback/activity/submit", me: "/api/timeback/user/me" };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;

const settle = async () => { for (let i = 0; i < 20; i += 1) await new Promise((r) => setImmediate(r)); };

function memoryStorage() {
  const data = new Map();
  return { getItem: (k) => (data.has(k) ? data.get(k) : null), setItem: (k, v) => data.set(k, String(v)), removeItem: (k) => data.delete(k), data };
}

/* A page: its clock and timers, document, window, network and storage.
   A "reload" is a new page on the same storage and network. */
function fakePage({ storage = memoryStorage(), net = fakeNetwork(), clock = fakeClock() } = {}) {
  const doc = new EventTarget();
  doc.visibilityState = "visible";
  doc.cookie = "";
  const win = new EventTarget();
  const events = [];
  doc.addEventListener("timeback:progress", (e) => events.push(e.detail));
  let n = 0;
  const env = {
    now: () => clock.now, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout,
    doc, win, storage, fetch: net.fetch, uuid: () => `00000000-0000-4000-8000-${String(++n + clock.pages++ * 1000).padStart(12, "0")}`,
  };
  const page = {
    doc, win, env, net, storage, clock, events,
    tracker: (options = {}) => createTracker({ endpoints: ENDPOINTS, activity: { id: "fractions-quiz", name: "Fractions Quiz", course: COURSE, expectedXp: 20 }, env, ...options }),
    input: () => doc.dispatchEvent(new Event("pointerdown")),
    hide: () => { doc.visibilityState = "hidden"; doc.dispatchEvent(new Event("visibilitychange")); },
    show: () => { doc.visibilityState = "visible"; doc.dispatchEvent(new Event("visibilitychange")); },
    reload: () => { clock.clearAll(); return fakePage({ storage, net, clock }); },
  };
  return page;
}

function fakeClock() {
  let timers = [];
  let id = 0;
  const clock = {
    now: T0, pages: 0,
    setTimeout: (fn, ms) => { timers.push({ id: ++id, due: clock.now + ms, fn }); return id; },
    clearTimeout: (h) => { timers = timers.filter((t) => t.id !== h); },
    clearAll: () => { timers = []; },
    /* Move time on by ms, running each timer at its due time. */
    async advance(ms) {
      const end = clock.now + ms;
      for (;;) {
        timers.sort((a, b) => a.due - b.due);
        const next = timers[0];
        if (!next || next.due > end) break;
        timers.shift();
        clock.now = next.due;
        next.fn();
        await settle();
      }
      clock.now = end;
      await settle();
    },
    /* Time passes with no timer running (the device asleep). */
    jump(ms) { clock.now += ms; },
  };
  return clock;
}

/* The server: records what arrives; offline throws as fetch does. */
function fakeNetwork() {
  const net = {
    online: true, received: [], keepalive: [],
    reply: (url, body) => (url.endsWith("/submit") ? { status: 200, json: { xpEarned: 25, accuracy: 100, multiplier: 1.25, masteredUnits: 1 } } : { status: 204 }),
    fetch: async (url, init) => {
      if (!net.online) throw new TypeError("Failed to fetch");
      const body = init.body ? JSON.parse(init.body) : null;
      if (init.keepalive) net.keepalive.push(body);
      const r = net.reply(url, body);
      if (r.status < 300 || r.status === 409) net.received.push({ url, body, headers: init.headers });
      return { status: r.status, ok: r.status >= 200 && r.status < 300, json: async () => r.json };
    },
  };
  net.beats = () => net.received.filter((r) => r.url.endsWith("/heartbeat")).map((r) => r.body);
  net.submits = () => net.received.filter((r) => r.url.endsWith("/submit")).map((r) => r.body);
  return net;
}

const sum = (beats, key) => beats.reduce((s, b) => s + b[key], 0);

test("the meter: active within the idle limit after input, inactive after, nothing while not counting", () => {
  const m = createMeter({ idleMs: 60_000, maxGapMs: 25_000, now: 0 });
  m.setCounting(0, true);
  m.advance(15_000);
  m.advance(30_000);
  m.advance(45_000);
  m.advance(60_000);
  m.advance(75_000); // idle from 60 s
  assert.deepEqual([m.active, m.inactive], [60_000, 15_000]);
  m.input(80_000); // back: active again
  m.advance(90_000);
  assert.deepEqual([m.active, m.inactive], [70_000, 20_000]);
  m.setCounting(90_000, false);
  m.advance(100_000);
  assert.deepEqual([m.active, m.inactive], [70_000, 20_000]);
  const w = m.take(100_000);
  assert.deepEqual(w, { start: 0, end: 100_000, active: 70_000, inactive: 20_000 });
  assert.deepEqual([m.windowStart, m.active, m.inactive], [100_000, 0, 0]);
});

test("the meter: a gap longer than a heartbeat and its slack (asleep) is not counted", () => {
  const m = createMeter({ idleMs: 60_000, maxGapMs: 25_000, now: 0 });
  m.setCounting(0, true);
  m.advance(15_000);
  m.advance(15_000 + 600_000);
  m.advance(15_000 + 610_000);
  assert.deepEqual([m.active, m.inactive], [15_000, 10_000]);
});

test("heartbeats every 15 s carry their window in the vendor's fields, nothing else", async () => {
  const page = fakePage();
  const tracker = page.tracker();
  tracker.startActivity({});
  for (let s = 0; s < 45; s += 5) { await page.clock.advance(5_000); page.input(); }
  const beats = page.net.beats();
  assert.equal(beats.length, 3);
  for (const b of beats) {
    assert.deepEqual(Object.keys(b).sort(), ["course", "elapsedMs", "endedAt", "id", "name", "pausedMs", "runId", "startedAt"]);
    assert.match(b.runId, UUID);
    assert.match(b.startedAt, ISO);
    assert.match(b.endedAt, ISO);
    assert.ok(Number.isInteger(b.elapsedMs) && Number.isInteger(b.pausedMs));
    assert.ok(b.elapsedMs + b.pausedMs <= Date.parse(b.endedAt) - Date.parse(b.startedAt));
    assert.deepEqual(b.course, COURSE);
    assert.equal(b.id, "fractions-quiz");
    assert.equal(b.name, "Fractions Quiz");
  }
  assert.deepEqual(beats.map((b) => [b.elapsedMs, b.pausedMs]), [[15_000, 0], [15_000, 0], [15_000, 0]]);
  // Windows follow each other: each starts where the last ended.
  assert.equal(beats[1].startedAt, beats[0].endedAt);
  assert.equal(beats[2].startedAt, beats[1].endedAt);
  assert.equal(new Set(beats.map((b) => b.runId)).size, 1);
});

test("visible but idle time is inactive (pausedMs), with the idle limit a setting", async () => {
  const page = fakePage();
  page.tracker({ idleSeconds: 20 }).startActivity({});
  await page.clock.advance(60_000); // no input at all
  const beats = page.net.beats();
  assert.equal(sum(beats, "elapsedMs"), 20_000);
  assert.equal(sum(beats, "pausedMs"), 40_000);
});

test("hidden time is not counted, and hiding sends the window at once with keepalive", async () => {
  const page = fakePage();
  page.tracker().startActivity({});
  await page.clock.advance(5_000);
  page.hide();
  await page.clock.advance(0);
  assert.deepEqual(page.net.keepalive.map((b) => b.elapsedMs), [5_000]);
  await page.clock.advance(120_000);
  page.show();
  await page.clock.advance(15_000);
  page.win.dispatchEvent(new Event("pagehide"));
  await page.clock.advance(0);
  const beats = page.net.beats();
  assert.equal(sum(beats, "elapsedMs") + sum(beats, "pausedMs"), 20_000);
  assert.equal(sum(beats, "elapsedMs"), 20_000);
});

test("pagehide and freeze send the last window with keepalive; frozen time is not counted", async () => {
  const page = fakePage();
  page.tracker().startActivity({});
  await page.clock.advance(7_000);
  page.doc.dispatchEvent(new Event("freeze"));
  await page.clock.advance(60_000);
  page.doc.dispatchEvent(new Event("resume"));
  await page.clock.advance(3_000);
  page.win.dispatchEvent(new Event("pagehide"));
  await page.clock.advance(0);
  assert.deepEqual(page.net.keepalive.map((b) => b.elapsedMs), [7_000, 3_000]);
  assert.equal(sum(page.net.beats(), "pausedMs"), 0);
});

test("pause() stops counting until resume()", async () => {
  const page = fakePage();
  const tracker = page.tracker();
  tracker.startActivity({});
  await page.clock.advance(10_000);
  tracker.pause();
  await page.clock.advance(100_000);
  tracker.resume();
  await page.clock.advance(5_000);
  tracker.pause();
  const beats = page.net.beats();
  assert.deepEqual(beats.map((b) => b.elapsedMs), [10_000, 5_000]);
  assert.equal(sum(beats, "pausedMs"), 0);
  assert.ok(page.events.some((e) => e.type === "state" && e.state === "paused"));
});

test("offline: windows and the submit are kept in order and each arrives once when back online", async () => {
  const page = fakePage();
  const tracker = page.tracker();
  tracker.startActivity({});
  await page.clock.advance(15_000);
  page.net.online = false;
  for (let s = 0; s < 60; s += 5) { await page.clock.advance(5_000); page.input(); }
  const done = tracker.endActivity({ totalQuestions: 5, correctQuestions: 5 });
  await page.clock.advance(30_000);
  assert.equal(page.net.received.length, 1);
  assert.equal(tracker.state().queued, 5); // 4 windows + the submit
  page.net.online = true;
  page.win.dispatchEvent(new Event("online"));
  const result = await done;
  assert.deepEqual(result, {
    xpEarned: 25, accuracy: 100, multiplier: 1.25, masteredUnits: 1, attempt: null, duplicate: false, runId: result.runId, activityId: "fractions-quiz",
  });
  const beats = page.net.beats();
  assert.equal(sum(beats, "elapsedMs"), 75_000);
  assert.equal(new Set(beats.map((b) => b.startedAt)).size, beats.length);
  assert.deepEqual(page.net.received.map((r) => r.url.split("/").pop()), ["heartbeat", "heartbeat", "heartbeat", "heartbeat", "heartbeat", "submit"]);
  assert.equal(tracker.state().queued, 0);
});

test("offline across a reload: the queue survives, the run resumes with the same runId", async () => {
  let page = fakePage();
  page.tracker().startActivity({});
  await page.clock.advance(15_000);
  const runId = page.net.beats()[0].runId;
  page.net.online = false;
  await page.clock.advance(30_000);
  page.win.dispatchEvent(new Event("pagehide"));
  await page.clock.advance(1_000);
  page = page.reload();
  const tracker = page.tracker();
  assert.equal(tracker.startActivity({}).runId, runId);
  await page.clock.advance(15_000);
  page.net.online = true;
  const done = tracker.endActivity({ totalQuestions: 4, correctQuestions: 3 });
  await page.clock.advance(5_000); // the retry timer
  await done;
  const beats = page.net.beats();
  assert.deepEqual(beats.map((b) => b.runId), [runId, runId, runId, runId]);
  assert.equal(sum(beats, "elapsedMs") + sum(beats, "pausedMs"), 60_000);
  assert.equal(new Set(beats.map((b) => b.startedAt)).size, 4);
  const [submit] = page.net.submits();
  assert.equal(submit.runId, runId);
  assert.deepEqual(submit.metrics, { totalQuestions: 4, correctQuestions: 3, xpEarned: 0 });
});

test("a queue left by an earlier visit is sent when the next page loads, before anything new", async () => {
  let page = fakePage();
  const first = page.tracker();
  first.startActivity({});
  page.net.online = false;
  await page.clock.advance(15_000);
  first.endActivity({ totalQuestions: 1, correctQuestions: 1 });
  await page.clock.advance(0);
  page = page.reload();
  page.net.online = true;
  page.tracker();
  await page.clock.advance(0);
  assert.deepEqual(page.net.received.map((r) => r.url.split("/").pop()), ["heartbeat", "submit"]);
  assert.ok(page.events.some((e) => e.type === "complete" && e.xpEarned === 25));
});

test("two rapid endActivity calls give one completion and the same result", async () => {
  const page = fakePage();
  const tracker = page.tracker();
  tracker.startActivity({});
  await page.clock.advance(10_000);
  const a = tracker.endActivity({ totalQuestions: 5, correctQuestions: 4 });
  const b = tracker.endActivity({ totalQuestions: 5, correctQuestions: 4 });
  assert.equal(a, b);
  await page.clock.advance(0);
  assert.deepEqual(await a, await b);
  assert.equal(page.net.submits().length, 1);
  await page.clock.advance(60_000);
  assert.equal(page.net.submits().length, 1);
  assert.equal(page.net.beats().length, 1);
});

test("a request refused for good is dropped so the queue moves on; a 5xx is retried", async () => {
  const page = fakePage();
  let calls = 0;
  page.net.reply = (url) => {
    calls += 1;
    if (calls === 1) return { status: 503 };
    if (calls === 2) return { status: 400, json: { code: "INVALID_PAYLOAD" } };
    return url.endsWith("/submit") ? { status: 200, json: { xpEarned: 0 } } : { status: 204 };
  };
  const tracker = page.tracker();
  tracker.startActivity({});
  await page.clock.advance(15_000); // window 1: 503, retried in 2 s -> 400, dropped
  await page.clock.advance(15_000); // window 2: 204
  const errors = page.events.filter((e) => e.type === "error").map((e) => e.status);
  assert.deepEqual(errors, [503, 400]);
  assert.equal(page.net.beats().length, 1);
  assert.equal(tracker.state().queued, 0);
});

test("session auth sends the CSRF token (the cookie's when readable); token auth sends Authorization and no cookies", async () => {
  const page = fakePage();
  page.doc.cookie = "csrftoken=fresh-token; other=1";
  page.tracker({ csrfToken: "rendered-token", csrfCookieName: "csrftoken" }).startActivity({});
  await page.clock.advance(15_000);
  assert.equal(page.net.received[0].headers["X-CSRFToken"], "fresh-token");

  const other = fakePage();
  const seen = [];
  const fetch = other.net.fetch;
  other.env.fetch = (url, init) => { seen.push(init); return fetch(url, init); };
  other.tracker({ token: "abc123", endpoints: { ...ENDPOINTS, heartbeat: "https://progress.example.org/api/timeback/activity/heartbeat" } }).startActivity({});
  await other.clock.advance(15_000);
  assert.equal(seen[0].headers.Authorization, "Token abc123");
  assert.equal(seen[0].credentials, "omit");
  assert.equal(seen[0].headers["X-CSRFToken"], undefined);
});

test("endActivity checks its numbers as the vendor's validator does", async () => {
  const page = fakePage();
  const tracker = page.tracker();
  tracker.startActivity({});
  await assert.rejects(tracker.endActivity({ totalQuestions: 3, correctQuestions: 4 }), TypeError);
  await assert.rejects(tracker.endActivity({ totalQuestions: 3, correctQuestions: 1.5 }), TypeError);
  await assert.rejects(tracker.endActivity({ totalQuestions: 3 }), TypeError);
  assert.ok((await tracker.endActivity({ totalQuestions: 3, correctQuestions: 3 })).xpEarned >= 0);
});

test("the XP hint follows Timeback's rule (the server computes the real XP)", () => {
  assert.equal(xpHint({ totalQuestions: 10, correctQuestions: 10, expectedXp: 20 }), 25);
  assert.equal(xpHint({ totalQuestions: 10, correctQuestions: 8, expectedXp: 20 }), 20);
  assert.equal(xpHint({ totalQuestions: 10, correctQuestions: 7, expectedXp: 20 }), 0);
  assert.equal(xpHint({ totalQuestions: 0, correctQuestions: 0, expectedXp: 20 }), 0);
  assert.equal(xpHint({ totalQuestions: 4, correctQuestions: 4, activeMs: 6 * 60_000 }), 7.5); // 1 XP a minute without expectedXp
});

test("a progress event for each window that arrives and for the completion", async () => {
  const page = fakePage();
  const tracker = page.tracker();
  tracker.startActivity({});
  await page.clock.advance(15_000);
  await tracker.endActivity({ totalQuestions: 2, correctQuestions: 2 });
  const types = page.events.map((e) => e.type);
  assert.deepEqual(types, ["state", "time", "state", "complete"]);
  assert.equal(page.events.at(-1).xpEarned, 25);
});

test("a 429 waits the Retry-After the server gives before trying again", async () => {
  const page = fakePage();
  let calls = 0;
  const fetch = page.net.fetch;
  page.env.fetch = async (url, init) => {
    calls += 1;
    if (calls === 1) return { status: 429, ok: false, headers: new Headers({ "Retry-After": "40" }), json: async () => ({}) };
    return fetch(url, init);
  };
  page.tracker().startActivity({});
  await page.clock.advance(15_000); // refused: wait 40 s
  await page.clock.advance(39_000); // the backoff alone would have retried after 2 s; the tick at 30 s only queues
  assert.equal(page.net.beats().length, 0);
  await page.clock.advance(1_000);
  assert.equal(page.net.beats().length, 3); // 15 s, 30 s and 45 s, in order
  assert.deepEqual(page.net.beats().map((b) => b.endedAt.slice(11, 19)), ["10:00:15", "10:00:30", "10:00:45"]);
});

test("without endpoints (the protocol's URLs not included) startActivity says so", () => {
  const page = fakePage();
  assert.throws(() => page.tracker({ endpoints: null, error: "not included" }).startActivity({}), /not included/);
});
