// redisalloc dashboard: renders each report the server pushes.
//
// The URL's hash selects the view: "" the overview of everything,
// "#pool/NAME" one pool, "#queue/NAME" one queue with its charts and
// task list, "#queue/NAME/task/ID" a task's record too. The sidebar lists
// every pool and queue, filtered by its search box.
//
// Actions (when the server has --allow-actions) are buttons that open a
// confirmation naming their target; only the confirm button posts, with
// the CSRF token read from /api/session, and the result shows in #toast.
// Buttons are handled by one listener on the document, so the renders
// that replace them every report do not lose clicks.
//
// Every report is rendered in one synchronous pass that replaces the
// children of #data and sets its data-seq, so the seq and the numbers on
// the page always come from the same report. Numbers carry stable data-*
// attributes (data-pool, data-queue, data-field, ...) for tests and
// scripts. No framework, no external resources: the page's CSP allows
// only its own files.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg"; // a namespace name, not fetched
  const root = document.getElementById("data");
  const healthBadge = document.getElementById("health");
  const conn = document.getElementById("conn");
  const stamp = document.getElementById("stamp");
  const prefixEl = document.getElementById("prefix");
  const errorBox = document.getElementById("error");
  const every = document.getElementById("every");
  const nav = document.getElementById("nav-list");
  const navFilter = document.getElementById("nav-filter");
  const modeBadge = document.getElementById("mode");
  const dialog = document.getElementById("confirm");
  const toast = document.getElementById("toast");

  // What /api/session said: whether actions are on, and their CSRF token.
  const session = { actions: false, csrf: "", states: [] };
  let lastReport = null;
  // The task list and task record of the selected queue, fetched on
  // demand (not part of the broadcast).
  const tv = { queue: null, state: "", cursor: "", tasks: null, next: "", prev: [], error: "", dead: -1, detailId: null, detail: null, detailError: "" };

  let intervalMs = 1000;
  let lastSeq = 0;
  let receivedAt = 0; // performance.now() when the shown report arrived
  let pollTimer = null;

  // el builds an element: el("td", {class: "n", "data-field": "free"}, 3).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG, tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function setAttrs(e, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null && v !== false) e.setAttribute(k, String(v));
    }
  }

  function append(e, children) {
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }

  function num(field, value, extra) {
    return el("span", Object.assign({ class: "num", "data-field": field }, extra), value);
  }

  function stat(label, field, value, cls) {
    return el("div", { class: "stat " + (cls || "") },
      num(field, value), el("span", { class: "label" }, label));
  }

  function fmtMs(ms) {
    if (ms < 0) return "expired";
    if (ms < 10000) return (ms / 1000).toFixed(1) + "s";
    const s = Math.round(ms / 1000);
    if (s < 120) return s + "s";
    const m = Math.floor(s / 60);
    if (m < 120) return m + "m" + String(s % 60).padStart(2, "0") + "s";
    return Math.floor(m / 60) + "h" + String(m % 60).padStart(2, "0") + "m";
  }

  function fmtTime(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return isNaN(d) ? "–" : d.toLocaleTimeString([], { hour12: false });
  }

  function fmtBytes(n) {
    if (!n) return "0";
    const u = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return n.toFixed(i ? 1 : 0) + " " + u[i];
  }

  function short(s, n) {
    return s.length > n ? s.slice(0, n - 1) + "…" : s;
  }

  function card(title, attrs, ...body) {
    return el("section", Object.assign({ class: "card" }, attrs),
      el("h2", null, title), body);
  }

  function table(head, rows, attrs) {
    return el("table", attrs,
      el("thead", null, el("tr", null, head.map((h) => el("th", null, h)))),
      el("tbody", null, rows));
  }

  // ---- sections ---------------------------------------------------------

  function summary(r) {
    const pools = r.pools || [];
    const sum = (f) => pools.reduce((a, p) => a + (p[f] || 0), 0);
    const queues = r.queues || [];
    const qsum = (f) => queues.reduce((a, q) => a + (q[f] || 0), 0);
    const workers = r.workers || [];
    const alive = workers.filter((w) => w.alive).length;
    return el("section", { class: "summary", "data-summary": "" },
      el("div", { class: "stat health" },
        el("span", { class: "num badge health-" + r.health, "data-field": "health" }, r.health || "unknown"),
        el("span", { class: "label" }, "health")),
      stat("pools", "pools", pools.length),
      stat("free", "free", sum("free"), "free"),
      stat("held", "held", sum("held"), "held"),
      stat("unhealthy", "unhealthy", sum("unhealthy"), "unhealthy"),
      stat("tasks ready", "ready", qsum("ready")),
      stat("tasks running", "running", qsum("running")),
      stat("dead letters", "dead", qsum("dead"), qsum("dead") ? "bad" : ""),
      stat("workers alive", "workers-alive", alive, "free"),
      stat("workers dead", "workers-dead", workers.length - alive, workers.length - alive ? "bad" : ""),
      stat("findings", "findings", (r.findings || []).length, (r.findings || []).length ? "warn" : ""));
  }

  function chart(rates, interval) {
    const series = (rates || []).map((s) => ({ name: s.pool, points: s.points }));
    return card("Allocations per second", { class: "card chart-card", "data-chart": "" },
      lineChart(series, interval, "allocations per second per pool", "collecting: the rate needs two reports", "/s"));
  }

  // lineChart draws series ({name, points: [{t, v}]}) over time as one
  // SVG with its legend; unit follows the legend's values.
  function lineChart(series, interval, label, emptyText, unit) {
    const W = 860, H = 220, L = 46, R = 12, T = 12, B = 26;
    let n = 0, maxV = 0, minT = Infinity, maxT = -Infinity;
    for (const s of series) {
      for (const p of s.points) {
        const t = Date.parse(p.t);
        n++;
        maxV = Math.max(maxV, p.v);
        minT = Math.min(minT, t);
        maxT = Math.max(maxT, t);
      }
    }
    // A fixed window of the points kept, so the chart scrolls steadily.
    const span = Math.max(maxT - minT, 30 * interval, 1);
    minT = maxT - span;
    const top = niceMax(maxV);
    const x = (t) => L + ((t - minT) / span) * (W - L - R);
    const y = (v) => H - B - (v / top) * (H - T - B);
    const g = svg("svg", {
      viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img",
      "aria-label": label, "data-chart-points": n,
    });
    for (let i = 0; i <= 4; i++) {
      const v = (top * i) / 4;
      g.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }),
        svg("text", { x: L - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, fmtRate(v)));
    }
    if (n === 0) {
      g.append(svg("text", { x: W / 2, y: H / 2, class: "axis", "text-anchor": "middle" },
        emptyText));
    } else {
      for (const frac of [0, 0.5, 1]) {
        const t = minT + frac * span;
        g.append(svg("text", { x: x(t), y: H - 6, class: "axis", "text-anchor": frac === 0 ? "start" : frac === 1 ? "end" : "middle" },
          fmtTime(new Date(t).toISOString())));
      }
    }
    series.forEach((s, i) => {
      if (!s.points.length) return;
      const pts = s.points.map((p) => `${x(Date.parse(p.t)).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
      g.append(svg("polyline", { points: pts, class: "line s" + (i % 6), "data-series": s.name }));
      const last = s.points[s.points.length - 1];
      g.append(svg("circle", { cx: x(Date.parse(last.t)), cy: y(last.v), r: 3, class: "dot s" + (i % 6) }));
    });
    const legend = el("ul", { class: "legend" }, series.map((s, i) => {
      const last = s.points.length ? s.points[s.points.length - 1].v : null;
      return el("li", { "data-series": s.name },
        el("span", { class: "swatch s" + (i % 6) }), s.name, " ",
        el("b", { "data-field": "rate" }, last === null ? "–" : fmtRate(last) + unit));
    }));
    return [g, legend];
  }

  function niceMax(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  function fmtRate(v) {
    return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2).replace(/\.?0+$/, "") || "0";
  }

  function pool(p) {
    const violations = p.violations || [];
    const ok = violations.length === 0;
    const bound = new Map(); // member key -> binding names
    for (const b of p.bindings || []) {
      if (!bound.has(b.key)) bound.set(b.key, []);
      bound.get(b.key).push(b.name + (b.stale ? " (stale)" : ""));
    }
    const rows = (p.members || []).map((m) => {
      const lease = m.lease;
      const attrs = { "data-member": m.key, "data-state": m.state };
      if (lease) attrs["data-lease"] = "";
      let left = "";
      if (lease) {
        left = lease.ttl_ms < 0
          ? el("span", { class: "muted" }, "permanent")
          : el("span", { class: "ttl" + (lease.expired ? " bad" : ""), "data-ttl-ms": lease.ttl_ms }, fmtMs(lease.ttl_ms));
      } else if (m.state === "unhealthy" && m.unhealthy_until) {
        left = el("span", { class: "muted" }, "until " + fmtTime(m.unhealthy_until));
      }
      return el("tr", attrs,
        el("td", { class: "key" }, m.key),
        el("td", null, el("span", { class: "pill " + m.state, "data-field": "state" }, m.state)),
        el("td", { class: "n" }, m.priority),
        el("td", { class: "n", "data-field": "fence" }, lease ? lease.fence : ""),
        el("td", { class: "mono", "data-field": "session", title: lease && lease.session ? lease.session : null },
          lease ? (lease.session ? short(lease.session, 18) : el("span", { class: "muted" }, "none")) : ""),
        el("td", { class: "n" }, left),
        el("td", { class: "muted", "data-field": "bound" }, (bound.get(m.key) || []).join(", ")),
        session.actions ? el("td", { class: "acts" }, memberActions(p.name, m)) : null);
    });
    // A pool over --full-read-limit comes as a summary: counts only.
    const members = p.members && p.members.length
      ? el("div", { class: "scroll" }, table(["member", "state", "prio", "fence", "session", "time left", "bound to"].concat(session.actions ? ["actions"] : []), rows, { class: "members" }))
      : el("p", { class: "muted", "data-field": "members-note" }, p.summary
        ? "summary only: more members than --full-read-limit, so members, bindings, sessions and invariants are not read"
        : p.total ? "members omitted" : "no members");
    const badge = p.summary
      ? { cls: "", status: "unchecked", text: "invariants not checked" }
      : ok ? { cls: "health-healthy", status: "ok", text: "invariants ok" }
        : { cls: "health-corrupt", status: "violated", text: violations.length + " violations" };
    const extra = [];
    if (!ok) {
      extra.push(el("ul", { class: "violations" }, violations.map((v) => el("li", null, v))));
    }
    const strays = (p.bindings || []).filter((b) => !(p.members || []).some((m) => m.key === b.key));
    if (strays.length) {
      extra.push(el("p", { class: "muted" }, "bindings to missing members: ",
        strays.map((b) => b.name + " → " + b.key).join(", ")));
    }
    return el("section", { class: "card pool", "data-pool": p.name },
      el("h2", null, "Pool ", el("a", { class: "name", href: "#pool/" + encodeURIComponent(p.name) }, p.name),
        el("span", {
          class: "badge " + badge.cls,
          "data-field": "invariants", "data-status": badge.status,
        }, badge.text)),
      el("div", { class: "stats" },
        stat("free", "free", p.free, "free"),
        stat("held", "held", p.held, "held"),
        stat("unhealthy", "unhealthy", p.unhealthy, "unhealthy"),
        stat("total", "total", p.total),
        stat("leases granted", "allocations", p.allocations),
        stat("last fence", "fence", p.fence),
        stat("waiters", "waiters", p.waiters),
        stat("bindings", "bindings", p.summary ? "–" : (p.bindings || []).length),
        stat("sessions", "sessions", p.summary ? "–" : (p.sessions || []).length),
        stat("lapsed leases", "lapsed", p.lapsed_leases, p.lapsed_leases ? "warn" : "")),
      el("div", { class: "bar", "aria-hidden": "true" },
        ["free", "held", "unhealthy"].map((f) => {
          const b = el("span", { class: "seg " + f });
          // CSSOM, not a style attribute: allowed by the CSP.
          b.style.flexGrow = String(p[f] || 0);
          return b;
        })),
      members, extra);
  }

  function queues(list) {
    if (!list.length) return card("Task queues", { "data-queues": "" }, el("p", { class: "muted" }, "no queues"));
    const rows = list.map((q) => el("tr", { "data-queue": q.name },
      el("td", { class: "key" }, el("a", { href: "#queue/" + encodeURIComponent(q.name) }, q.name)),
      el("td", { class: "n", "data-field": "ready" }, q.ready),
      el("td", { class: "n", "data-field": "running" }, q.running),
      el("td", { class: "n", "data-field": "delayed" }, q.delayed),
      el("td", { class: "n" + (q.dead ? " bad" : ""), "data-field": "dead" }, q.dead),
      el("td", { class: "n", "data-field": "workers" }, q.workers),
      el("td", { class: "n", "data-field": "records" }, q.records)));
    const failures = [];
    for (const q of list) {
      for (const f of q.recent_failures || []) {
        failures.push(el("li", { "data-failure": f.id },
          el("span", { class: "mono" }, fmtTime(f.finished)), " ",
          el("b", null, q.name + "/" + f.id), " attempt " + f.attempt + ": ",
          (f.error_kind ? f.error_kind + ": " : "") + (f.error_message || "")));
      }
    }
    return card("Task queues", { "data-queues": "" },
      table(["queue", "ready", "running", "delayed", "dead letters", "workers", "records"], rows),
      el("h3", null, "Recent failures"),
      failures.length ? el("ul", { class: "failures" }, failures) : el("p", { class: "muted" }, "none"));
  }

  function workers(list) {
    const alive = list.filter((w) => w.alive).length;
    const rows = list.map((w) => el("tr", { "data-worker": w.id, "data-alive": String(w.alive) },
      el("td", null, el("span", { class: "pill " + (w.alive ? "free" : "unhealthy") }, w.alive ? "alive" : "dead")),
      el("td", { class: "mono", title: w.id }, short(w.id, 22)),
      el("td", null, w.group),
      el("td", null, w.host + (w.pid ? ":" + w.pid : "")),
      el("td", null, fmtTime(w.started)),
      el("td", null, fmtTime(w.deadline))));
    return card("Workers", { "data-workers": "" },
      el("div", { class: "stats" },
        stat("alive", "workers-alive", alive, "free"),
        stat("dead", "workers-dead", list.length - alive, list.length - alive ? "bad" : "")),
      list.length ? table(["state", "id", "group", "host", "started", "deadline"], rows) : el("p", { class: "muted" }, "no workers"));
  }

  function locks(r) {
    const ls = r.locks || [], lps = r.lock_pools || [];
    if (!ls.length && !lps.length) return null;
    return card("Locks", { "data-locks": "" },
      ls.length ? table(["lock", "held", "time left", "holds", "fence"], ls.map((l) => el("tr", { "data-lock": l.name },
        el("td", { class: "key" }, l.name),
        el("td", null, el("span", { class: "pill " + (l.held ? "held" : "free") }, l.held ? "held" : "free")),
        el("td", { class: "n" }, l.ttl_ms === -1 ? "permanent" : l.ttl_ms >= 0 ? el("span", { class: "ttl", "data-ttl-ms": l.ttl_ms }, fmtMs(l.ttl_ms)) : ""),
        el("td", { class: "n" }, l.holds),
        el("td", { class: "n" }, l.fence)))) : null,
      lps.length ? table(["lock pool", "members", "locked"], lps.map((p) => el("tr", { "data-lock-pool": p.name },
        el("td", { class: "key" }, p.name), el("td", { class: "n" }, p.members), el("td", { class: "n" }, p.locked)))) : null);
  }

  function findings(list) {
    return card("Findings", { "data-findings": "" },
      list.length
        ? el("ul", { class: "findings" }, list.map((f) => el("li", { class: "sev-" + f.severity, "data-code": f.code },
          el("span", { class: "badge sev-" + f.severity }, f.severity), " ",
          el("b", null, f.code), " ", el("span", { class: "muted" }, f.subject), " ", f.message,
          f.repair ? el("span", { class: "mono", "data-repair": "" }, "  repair: " + f.repair) : null)))
        : el("p", { class: "muted", "data-field": "no-findings" }, "No findings: every invariant holds."));
  }

  function redisNodes(redis) {
    if (!redis || !redis.nodes || !redis.nodes.length) return null;
    return card("Redis", { "data-redis": "" },
      table(["node", "memory", "maxmemory", "clients", "slow log"], redis.nodes.map((n) => el("tr", null,
        el("td", { class: "mono" }, n.addr),
        el("td", { class: "n" }, fmtBytes(n.used_memory)),
        el("td", { class: "n" }, n.maxmemory ? fmtBytes(n.maxmemory) : "none"),
        el("td", { class: "n" }, n.connected_clients),
        el("td", { class: "n" }, (n.slowlog || []).length)))));
  }

  // ---- actions -----------------------------------------------------------

  // memberActions are the buttons of a member row: free its lease (by the
  // fence shown, so a stale page cannot free a newer lease) and
  // quarantine it, or end its quarantine.
  function memberActions(poolName, m) {
    const out = [];
    if (m.lease) {
      out.push(el("button", {
        type: "button", class: "act", "data-action": "pool/free", "data-pool": poolName,
        "data-member": m.key, "data-fence": m.lease.fence,
      }, "free"));
    }
    if (m.state === "unhealthy") {
      out.push(el("button", { type: "button", class: "act", "data-action": "pool/unquarantine", "data-pool": poolName, "data-member": m.key }, "end quarantine"));
    } else {
      out.push(el("button", { type: "button", class: "act", "data-action": "pool/quarantine", "data-pool": poolName, "data-member": m.key }, "quarantine"));
    }
    return out;
  }

  // confirmations describe each button's action: the dialog's title and
  // text, and the request it posts (to /api/actions/<path>).
  const confirmations = {
    "pool/free": (b) => ({
      title: "Free a lease",
      text: `End the lease of member ${b.member} of pool ${b.pool} (fence ${b.fence}) without asking its holder? ` +
        "Only this lease ends: if the member was released or leased again since, nothing happens.",
      path: "pool/free",
      body: () => ({ pool: b.pool, member: b.member, fence: Number(b.fence) }),
    }),
    "pool/quarantine": (b) => ({
      title: "Quarantine a member",
      text: `Take member ${b.member} of pool ${b.pool} out of rotation (a held member when its lease ends) for:`,
      duration: true,
      path: "pool/quarantine",
      body: (secs) => ({ pool: b.pool, member: b.member, seconds: secs }),
    }),
    "pool/unquarantine": (b) => ({
      title: "End a quarantine",
      text: `Return member ${b.member} of pool ${b.pool} to the free set now?`,
      path: "pool/quarantine",
      body: () => ({ pool: b.pool, member: b.member, seconds: 0 }),
    }),
    "task/cancel": (b) => ({
      title: "Cancel a task",
      text: `Cancel task ${b.task} of queue ${b.queue}? A pending task ends at once; a running one when its worker sees the request.`,
      path: "task/cancel",
      body: () => ({ queue: b.queue, id: b.task }),
    }),
    "task/delete": (b) => ({
      title: "Delete a task",
      text: `Delete the record of task ${b.task} of queue ${b.queue}? Callers waiting on it get "not found".`,
      path: "task/delete",
      body: () => ({ queue: b.queue, id: b.task }),
    }),
    "task/run-now": (b) => ({
      title: "Run a task now",
      text: `Make task ${b.task} of queue ${b.queue} due now, instead of at its delay or next retry?`,
      path: "task/run-now",
      body: () => ({ queue: b.queue, id: b.task }),
    }),
    "queue/pause": (b) => ({
      title: "Pause a queue",
      text: `Pause queue ${b.queue}? Its workers claim no task until it is resumed; running tasks go on and callers can still submit.`,
      path: "queue/pause",
      body: () => ({ queue: b.queue }),
    }),
    "queue/resume": (b) => ({
      title: "Resume a queue",
      text: `Resume queue ${b.queue}, so its workers claim tasks again?`,
      path: "queue/resume",
      body: () => ({ queue: b.queue }),
    }),
    "queue/unschedule": (b) => ({
      title: "Remove a periodic task",
      text: `Remove schedule ${b.schedule} of queue ${b.queue}? No more runs are queued for it; runs already queued stay.`,
      path: "queue/unschedule",
      body: () => ({ queue: b.queue, schedule: b.schedule }),
    }),
    "queue/requeue": (b) => ({
      title: "Requeue a dead letter",
      text: `Move task ${b.task} of queue ${b.queue} from the dead-letter set back to the queue, with fresh attempts?`,
      path: "queue/requeue",
      body: () => ({ queue: b.queue, ids: [b.task] }),
    }),
  };

  let pending = null; // the confirmation the dialog shows

  function askConfirm(button) {
    const make = confirmations[button.dataset.action];
    if (!make || !session.actions) return;
    pending = make(button.dataset);
    dialog.querySelector("[data-field=confirm-title]").textContent = pending.title;
    dialog.querySelector("[data-field=confirm-target]").textContent = pending.text;
    dialog.querySelector("[data-field=confirm-duration]").hidden = !pending.duration;
    dialog.dataset.action = pending.path;
    dialog.showModal();
  }

  function onConfirm() {
    const c = pending;
    pending = null;
    dialog.close();
    if (!c) return;
    let body;
    if (c.duration) {
      const mins = Number(document.getElementById("confirm-minutes").value);
      if (!(mins > 0)) {
        showResult(false, "quarantine: give a number of minutes above 0");
        return;
      }
      body = c.body(Math.round(mins * 60));
    } else {
      body = c.body();
    }
    showResult(null, c.title + ": sending…");
    fetch("/api/actions/" + c.path, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": session.csrf },
      body: JSON.stringify(body),
    }).then((res) => res.text().then((text) => {
      let j = {};
      try { j = JSON.parse(text); } catch (e) { j = { error: text.trim() || "HTTP " + res.status }; }
      showResult(res.ok && j.ok, res.ok && j.ok ? j.message : "refused (HTTP " + res.status + "): " + (j.error || text.trim()));
      // A restarted server has a new CSRF token: read it again, so that
      // trying again works.
      if (res.status === 403) loadSession();
      if (c.path.startsWith("queue/") || c.path.startsWith("task/")) reloadTasks();
    })).catch((e) => showResult(false, "failed: " + e.message));
  }

  // showResult shows an action's outcome: ok true, false, or null (sent).
  function showResult(ok, text) {
    toast.hidden = false;
    toast.dataset.result = ok === null ? "pending" : ok ? "ok" : "error";
    toast.textContent = text;
  }

  document.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-action]");
    if (b) {
      ev.preventDefault();
      askConfirm(b);
      return;
    }
    const more = ev.target.closest("button[data-page]");
    if (more) {
      ev.preventDefault();
      pageTasks(more.dataset.page);
    }
  });
  document.addEventListener("change", (ev) => {
    if (ev.target.id === "task-state" && tv.queue) {
      tv.state = ev.target.value;
      tv.prev = [];
      tv.tasks = null;
      loadTasks(tv.queue, "", tv.dead);
    }
  });
  document.getElementById("confirm-ok").addEventListener("click", (ev) => { ev.preventDefault(); onConfirm(); });
  document.getElementById("confirm-cancel").addEventListener("click", (ev) => { ev.preventDefault(); pending = null; dialog.close(); });
  dialog.addEventListener("close", () => { pending = null; });
  toast.addEventListener("click", () => { toast.hidden = true; });

  // ---- views and navigation ---------------------------------------------------

  // route reads the view from the URL's hash.
  function route() {
    const parts = location.hash.replace(/^#/, "").split("/").map((p) => {
      try { return decodeURIComponent(p); } catch (e) { return p; }
    });
    if (parts[0] === "pool" && parts[1]) return { kind: "pool", name: parts[1] };
    if (parts[0] === "queue" && parts[1]) return { kind: "queue", name: parts[1], task: parts[2] === "task" ? parts[3] || null : null };
    return { kind: "overview" };
  }

  function renderNav(r, rt) {
    const f = navFilter.value.trim().toLowerCase();
    const match = (name) => !f || name.toLowerCase().includes(f);
    const pools = (r.pools || []).filter((p) => match(p.name));
    const queues = (r.queues || []).filter((q) => match(q.name));
    const link = (kind, name, counts, bad) => el("li", null,
      el("a", {
        href: "#" + kind + "/" + encodeURIComponent(name), "data-nav": kind, "data-name": name,
        class: (rt.kind === kind && rt.name === name ? "sel" : "") + (bad ? " bad" : ""),
      }, el("span", { class: "nav-name" }, name), el("span", { class: "nav-counts" }, counts)));
    nav.replaceChildren(
      el("a", { href: "#", class: "overview" + (rt.kind === "overview" ? " sel" : ""), "data-nav": "overview" }, "Overview"),
      el("h3", null, "Pools ", el("span", { class: "muted", "data-field": "nav-pools" }, pools.length + "/" + (r.pools || []).length)),
      el("ul", null, pools.map((p) => link("pool", p.name, p.free + " free · " + p.held + " held", (p.violations || []).length > 0))),
      el("h3", null, "Queues ", el("span", { class: "muted", "data-field": "nav-queues" }, queues.length + "/" + (r.queues || []).length)),
      el("ul", null, queues.map((q) => link("queue", q.name, q.ready + " ready · " + q.dead + " dead", q.dead > 0))));
  }

  // overviewPools shows the first maxOverviewPools pool cards: with more,
  // each is one click away in the sidebar.
  const maxOverviewPools = 20;
  function overviewPools(pools) {
    const shown = pools.slice(0, maxOverviewPools).map(pool);
    if (pools.length > maxOverviewPools) {
      shown.push(el("p", { class: "muted", "data-field": "more-pools" },
        (pools.length - maxOverviewPools) + " more pools: choose one in the sidebar (its filter narrows the list)."));
    }
    return shown;
  }

  function notFound(kind, name) {
    return card(kind + " " + name, { "data-missing": "" },
      el("p", { class: "muted" }, "Not in the latest report: it has no keys under this prefix (or the scan missed it). ",
        el("a", { href: "#" }, "Back to the overview")));
  }

  function poolView(r, d, name) {
    const p = (r.pools || []).find((x) => x.name === name);
    if (!p) return [notFound("Pool", name)];
    const rates = (d.rates || []).filter((s) => s.pool === name);
    return [chart(rates, intervalMs), pool(p)];
  }

  function queueView(r, d, rt) {
    const q = (r.queues || []).find((x) => x.name === rt.name);
    if (!q) return [notFound("Queue", rt.name)];
    if (series.queue !== rt.name || series.seq !== r.seq) loadSeries(rt.name, r.seq);
    const qs = series.queue === rt.name ? series : { points: [] };
    // Read with the series: null until known.
    const paused = series.queue === rt.name && typeof series.paused === "boolean" ? series.paused : null;
    const line = (f) => qs.points.map((p) => ({ t: p.t, v: p[f] }));
    const depth = ["ready", "delayed", "running", "dead"].map((f) => ({ name: f, points: line(f) }));
    // Points where f is known (rates are null on a first point).
    const known = (f) => qs.points.filter((p) => p[f] !== null && p[f] !== undefined).map((p) => ({ t: p.t, v: p[f] }));
    const failed = [{ name: "new dead letters", points: known("new_dead") }];
    const throughput = [{ name: "processed", points: known("processed") }, { name: "failed attempts", points: known("failed") }];
    const latency = [{ name: "mean run time", points: known("latency_ms") }];
    if (tv.queue !== rt.name || q.dead !== tv.dead) {
      // A new queue, or its dead letters changed: read the list again.
      loadTasks(rt.name, tv.queue === rt.name ? tv.cursor : "", q.dead);
    }
    if (rt.task && tv.detailId !== rt.task) loadDetail(rt.name, rt.task);
    // Read again with each report, so next and last runs stay current.
    if (sched.queue !== rt.name || sched.seq !== r.seq) loadSchedules(rt.name, r.seq);
    return [
      el("section", { class: "card", "data-queue-view": q.name },
        el("h2", null, "Queue ", el("span", { class: "name" }, q.name),
          paused === true ? el("span", { class: "badge health-degraded", "data-field": "paused" }, "paused") : null,
          session.actions && paused !== null ? el("button", {
            type: "button", class: "act", "data-action": paused ? "queue/resume" : "queue/pause", "data-queue": q.name,
          }, paused ? "resume" : "pause") : null),
        el("div", { class: "stats" },
          stat("ready", "ready", q.ready),
          stat("delayed", "delayed", q.delayed),
          stat("running", "running", q.running),
          stat("dead letters", "dead", q.dead, q.dead ? "bad" : ""),
          stat("workers", "workers", q.workers),
          stat("records", "records", q.records))),
      el("div", { class: "cols" },
        card("Depth over time", { class: "card chart-card", "data-queue-chart": "depth" },
          lineChart(depth, intervalMs, "tasks by state over time", "collecting", "")),
        card("Failed for good, per second", { class: "card chart-card", "data-queue-chart": "failed" },
          lineChart(failed, intervalMs, "new dead letters per second", "collecting: the rate needs two reports", "/s"),
          el("p", { class: "muted note" }, "Growth of the dead-letter set between collections (requeues and deletions offset it).")),
        card("Processed and failed, per second", { class: "card chart-card", "data-queue-chart": "throughput" },
          lineChart(throughput, intervalMs, "tasks processed and attempts failed per second", "collecting: the rate needs two reports", "/s"),
          el("p", { class: "muted note" }, "Processed: tasks that succeeded or failed for good; failed attempts: those failed for good or retried. " +
            "From the queue's counters between collections.")),
        card("Mean run time (ms)", { class: "card chart-card", "data-queue-chart": "latency" },
          lineChart(latency, intervalMs, "mean run time of the attempts finished between collections, ms", "collecting: needs finished attempts", " ms"))),
      rt.task ? taskDetail(q.name, rt.task) : null,
      taskList(q),
      scheduleList(q),
    ];
  }

  function taskList(q) {
    // The states the server lists (/api/session); a choice only when
    // there is more than one.
    const states = session.states.length ? session.states : ["dead"];
    const picker = states.length > 1
      ? el("select", { id: "task-state", "aria-label": "task state", "data-field": "task-state" },
        states.map((st) => el("option", { value: st, selected: st === tv.state }, st)))
      : null;
    const section = (...body) => el("section", { class: "card", "data-tasks": q.name, "data-state": tv.state },
      el("h2", null, tv.state === "dead" ? "Dead letters of " : "Tasks of ", el("span", { class: "name" }, q.name), picker), body);
    if (tv.error) return section(el("p", { class: "error-text" }, tv.error));
    if (!tv.tasks) return section(el("p", { class: "muted" }, "loading…"));
    const rows = tv.tasks.map((t) => el("tr", { "data-task": t.id },
      el("td", { class: "key" }, el("a", { href: "#queue/" + encodeURIComponent(q.name) + "/task/" + encodeURIComponent(t.id) }, t.id)),
      el("td", null, el("span", { class: "pill " + (t.status === "failed" ? "unhealthy" : "held") }, t.status)),
      el("td", { class: "n" }, t.attempt + "/" + t.max_attempts),
      el("td", null, fmtTime(t.finished)),
      el("td", null, (t.error_kind ? t.error_kind + ": " : "") + (t.error_message || "")),
      session.actions ? el("td", { class: "acts" }, taskActions(q.name, t)) : null));
    return section(
      rows.length
        ? el("div", { class: "scroll" }, table(["task", "status", "attempt", "failed at", "last error"].concat(session.actions ? ["actions"] : []), rows))
        : el("p", { class: "muted", "data-field": "no-tasks" }, tv.state === "dead" ? "No dead letters." : "No " + tv.state + " tasks."),
      tv.state === "dead" ? el("p", { class: "muted note" }, "Oldest failure first; the overview's recent failures list the newest.") : null,
      el("div", { class: "pager" },
        el("button", { type: "button", "data-page": "refresh" }, "refresh"),
        tv.prev.length ? el("button", { type: "button", "data-page": "prev" }, "‹ previous") : null,
        tv.next ? el("button", { type: "button", "data-page": "next" }, "next ›") : null));
  }

  // scheduleList is the queue's periodic tasks (/api/schedules), read
  // when the queue is opened and after each action on it.
  function scheduleList(q) {
    const section = (...body) => el("section", { class: "card", "data-schedules": q.name },
      el("h2", null, "Periodic tasks of ", el("span", { class: "name" }, q.name)), body);
    if (sched.error) return section(el("p", { class: "error-text" }, sched.error));
    if (!sched.list) return section(el("p", { class: "muted" }, "loading…"));
    const rows = sched.list.map((s) => el("tr", { "data-schedule": s.name },
      el("td", { class: "key" }, s.name),
      el("td", null, el("code", null, s.spec)),
      el("td", null, fmtTime(s.next)),
      el("td", null, fmtTime(s.last)),
      session.actions ? el("td", { class: "acts" }, el("button", {
        type: "button", class: "act", "data-action": "queue/unschedule", "data-queue": q.name, "data-schedule": s.name,
      }, "remove")) : null));
    return section(rows.length
      ? el("div", { class: "scroll" }, table(["name", "spec", "next run", "last run"].concat(session.actions ? ["actions"] : []), rows))
      : el("p", { class: "muted", "data-field": "no-schedules" }, "No periodic tasks."));
  }

  function taskDetail(queue, id) {
    const back = el("a", { href: "#queue/" + encodeURIComponent(queue) }, "close");
    if (tv.detailId !== id || (!tv.detail && !tv.detailError)) {
      return card("Task " + id, { "data-task-detail": id }, el("p", { class: "muted" }, "loading…"));
    }
    if (tv.detailError) return card("Task " + id, { "data-task-detail": id }, el("p", { class: "error-text" }, tv.detailError), back);
    const t = tv.detail;
    const row = (k, v, field) => [el("dt", null, k), el("dd", { "data-field": field }, v === undefined || v === null || v === "" ? "–" : v)];
    return el("section", { class: "card", "data-task-detail": id },
      el("h2", null, "Task ", el("span", { class: "name" }, t.id), " ", back),
      el("dl", { class: "detail" },
        row("status", t.status, "status"),
        row("attempt", t.attempt + " of " + t.max_attempts, "attempt"),
        row("priority", t.priority, "priority"),
        row("created", fmtTime(t.created), "created"),
        row("started", fmtTime(t.started), "started"),
        row("finished", fmtTime(t.finished), "finished"),
        row("deadline", fmtTime(t.deadline), "deadline"),
        row("due", fmtTime(t.due), "due"),
        row("worker", t.worker, "worker"),
        row("cancel requested", t.cancel_requested ? "yes" : "no", "cancel"),
        row("progress", t.progress ? t.progress.current + " / " + t.progress.total : "", "progress"),
        row("error", (t.error_kind ? t.error_kind + ": " : "") + (t.error_message || ""), "error"),
        row("params", t.params ? el("pre", { class: "params" }, t.params + (t.params_truncated ? " …" : "")) : "", "params")),
      session.actions ? el("div", { class: "acts" }, taskActions(queue, t)) : null);
  }

  // taskActions are the buttons of a task: those its status allows.
  function taskActions(queue, t) {
    const b = (action, label) => el("button", { type: "button", class: "act", "data-action": action, "data-queue": queue, "data-task": t.id }, label);
    const out = [];
    if (t.status === "failed") out.push(b("queue/requeue", "requeue"));
    if (t.status === "pending" && t.due) out.push(b("task/run-now", "run now"));
    if (t.status === "pending" || t.status === "running") out.push(b("task/cancel", "cancel"));
    if (t.status !== "running") out.push(b("task/delete", "delete"));
    return out;
  }

  function getJSON(url) {
    return fetch(url, { cache: "no-store", credentials: "same-origin" }).then((res) => res.text().then((text) => {
      let j;
      try { j = JSON.parse(text); } catch (e) { throw new Error("HTTP " + res.status + ": " + text.trim()); }
      if (!res.ok) throw new Error(j.error || "HTTP " + res.status);
      return j;
    }));
  }

  // series is the selected queue's counts over time, read once per report
  // from /api/queue-series (not broadcast, so that many queues do not
  // weigh on every broadcast).
  const series = { queue: null, seq: 0, points: [] };

  function loadSeries(queue, seq) {
    if (series.queue !== queue) Object.assign(series, { points: [], paused: undefined });
    Object.assign(series, { queue, seq });
    getJSON("/api/queue-series?queue=" + encodeURIComponent(queue))
      .then((j) => {
        if (series.queue !== queue || series.seq !== seq) return;
        series.points = j.points || [];
        series.paused = j.paused;
        if (lastReport && lastReport.seq === seq) render(lastReport);
      })
      .catch(() => {});
  }

  let tasksReq = 0; // the newest request wins

  // sched is the shown queue's periodic tasks.
  const sched = { queue: null, seq: 0, list: null, error: "" };
  let schedReq = 0;

  function loadSchedules(queue, seq) {
    const n = ++schedReq;
    if (sched.queue !== queue) Object.assign(sched, { queue, list: null, error: "" });
    if (seq !== undefined) sched.seq = seq;
    getJSON("/api/schedules?queue=" + encodeURIComponent(queue))
      .then((j) => { if (n === schedReq) Object.assign(sched, { list: j.schedules, error: "" }); })
      .catch((e) => { if (n === schedReq) sched.error = "Could not read the periodic tasks: " + e.message; })
      .finally(() => { if (n === schedReq && lastReport) render(lastReport); });
  }

  function loadTasks(queue, cursor, dead) {
    const n = ++tasksReq;
    if (tv.queue !== queue) {
      Object.assign(tv, { queue, cursor: "", prev: [], tasks: null, next: "", error: "", detailId: null, detail: null, detailError: "" });
      cursor = "";
    }
    tv.dead = dead;
    if (!tv.state) tv.state = session.states.includes("dead") || !session.states.length ? "dead" : session.states[0];
    getJSON("/api/tasks?queue=" + encodeURIComponent(queue) + "&state=" + encodeURIComponent(tv.state) + "&limit=50&cursor=" + encodeURIComponent(cursor))
      .then((j) => { if (n === tasksReq) Object.assign(tv, { tasks: j.tasks, next: j.next, cursor, error: "" }); })
      .catch((e) => { if (n === tasksReq) tv.error = "Could not read the tasks: " + e.message; })
      .finally(() => { if (n === tasksReq && lastReport) render(lastReport); });
  }

  function reloadTasks() {
    if (tv.queue) loadTasks(tv.queue, tv.cursor, tv.dead);
    if (sched.queue) loadSchedules(sched.queue);
    if (tv.detailId && tv.queue) loadDetail(tv.queue, tv.detailId);
  }

  function pageTasks(dir) {
    if (!tv.queue) return;
    let cursor = tv.cursor;
    if (dir === "next" && tv.next) {
      tv.prev.push(tv.cursor);
      cursor = tv.next;
    } else if (dir === "prev" && tv.prev.length) {
      cursor = tv.prev.pop();
    }
    loadTasks(tv.queue, cursor, tv.dead);
  }

  function loadDetail(queue, id) {
    tv.detailId = id;
    tv.detail = null;
    tv.detailError = "";
    getJSON("/api/task?queue=" + encodeURIComponent(queue) + "&id=" + encodeURIComponent(id))
      .then((j) => { if (tv.detailId === id) tv.detail = j; })
      .catch((e) => { if (tv.detailId === id) tv.detailError = e.message; })
      .finally(() => { if (lastReport) render(lastReport); });
  }

  // ---- rendering ----------------------------------------------------------

  function render(r) {
    const d = r.dashboard || {};
    // The server stretches its interval when collections are slow; the
    // page follows the effective one.
    intervalMs = d.effective_interval_ms || d.interval_ms || intervalMs;
    lastSeq = r.seq;
    receivedAt = performance.now();
    const stale = !!d.error;
    lastReport = r;
    const rt = route();
    renderNav(r, rt);
    let parts;
    if (rt.kind === "pool") {
      parts = poolView(r, d, rt.name);
    } else if (rt.kind === "queue") {
      parts = queueView(r, d, rt);
    } else {
      parts = [
        summary(r),
        chart(d.rates, intervalMs),
        overviewPools(r.pools || []),
        el("div", { class: "cols" }, queues(r.queues || []), workers(r.workers || [])),
        findings(r.findings || []),
        locks(r),
        redisNodes(r.redis),
      ];
    }
    root.dataset.view = rt.kind;
    root.replaceChildren(...parts.flat().filter(Boolean));
    root.dataset.seq = String(r.seq);
    root.dataset.time = r.time || "";
    // When (performance.now()) this report arrived, so tests can bound the
    // countdown of the time-left cells.
    root.dataset.receivedAt = String(receivedAt);
    root.classList.toggle("stale", stale);
    prefixEl.textContent = r.prefix ? "prefix " + r.prefix : "";
    healthBadge.textContent = stale ? "stale" : r.health || "unknown";
    healthBadge.className = "badge health-" + (stale ? "stale" : r.health);
    stamp.textContent = "seq " + r.seq + " · " + fmtTime(r.time);
    stamp.dataset.seq = String(r.seq);
    const slowed = d.interval_ms && intervalMs > d.interval_ms;
    every.textContent = "every " + fmtMs(intervalMs) + (slowed ? " (slowed: collection took " + fmtMs(d.collect_ms || 0) + ")" : "");
    every.dataset.intervalMs = String(intervalMs);
    every.classList.toggle("warn", !!slowed);
    errorBox.hidden = !stale;
    errorBox.textContent = stale ? "Collection failed, showing the last good report: " + d.error : "";
    document.title = (stale ? "stale" : r.health || "") + " · redisalloc dashboard";
  }

  // The time-left cells count down between reports, from the TTL the
  // server measured and the local time since the report arrived (no
  // reliance on the browser's clock agreeing with Redis).
  function tick() {
    const elapsed = performance.now() - receivedAt;
    for (const c of root.querySelectorAll("[data-ttl-ms]")) {
      const left = Number(c.dataset.ttlMs) - elapsed;
      c.textContent = fmtMs(left);
      c.classList.toggle("bad", left < 0);
    }
    if (lastSeq && elapsed > 3 * intervalMs + 2000) {
      setConn("stale", "no update for " + Math.round(elapsed / 1000) + "s");
    }
  }

  function setConn(state, text) {
    conn.className = "conn conn-" + state;
    conn.textContent = text;
  }

  function onReport(text) {
    let r;
    try {
      r = JSON.parse(text);
    } catch (e) {
      setConn("error", "bad data");
      return;
    }
    if (typeof r.seq !== "number" || r.seq < lastSeq) return; // old news
    render(r);
    setConn("live", "live");
  }

  function poll() {
    fetch("/api/snapshot", { cache: "no-store", credentials: "same-origin" })
      .then((res) => (res.ok ? res.text() : Promise.reject(new Error("HTTP " + res.status))))
      .then(onReport)
      .catch((e) => setConn("error", "polling: " + e.message))
      .finally(() => { pollTimer = setTimeout(poll, intervalMs); });
  }

  function connect() {
    if (!window.EventSource) {
      poll();
      return;
    }
    const es = new EventSource("/api/events");
    es.onmessage = (ev) => onReport(ev.data);
    es.onopen = () => setConn("live", "live");
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        // The stream was refused (e.g. 401 or the server went away for
        // good): poll instead, at the server's interval.
        setConn("error", "stream closed; polling");
        if (!pollTimer) poll();
      } else {
        setConn("wait", "reconnecting…");
      }
    };
  }

  window.addEventListener("hashchange", () => { if (lastReport) render(lastReport); });
  navFilter.addEventListener("input", () => { if (lastReport) renderNav(lastReport, route()); });

  // loadSession reads whether to offer actions, and their CSRF token.
  function loadSession() {
    return getJSON("/api/session")
      .then((j) => Object.assign(session, { actions: !!j.actions, csrf: j.csrf || "", states: j.task_states || [] }))
      .catch(() => {})
      .finally(() => {
        modeBadge.textContent = session.actions ? "actions enabled" : "read-only";
        modeBadge.className = "badge " + (session.actions ? "mode-actions" : "mode-readonly");
        modeBadge.dataset.actions = String(session.actions);
      });
  }

  // The session first, then the data.
  loadSession().finally(() => {
    setInterval(tick, 250);
    connect();
  });
})();
