// The Workflows console. Every user value reaches the page through textContent or an attribute set
// with setAttribute; nothing is ever assigned to innerHTML. Mutations carry the CSRF cookie as a header.
"use strict";
(() => {
  const app = document.getElementById("app");
  const STATUSES = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"];
  const STATE_STATUSES = ["notrun", "running", "succeeded", "failed", "caught", "cancelled"];
  const STATE_LABEL = { notrun: "Not run", running: "In progress", succeeded: "Succeeded", failed: "Failed", caught: "Caught error", cancelled: "Cancelled" };
  const timers = [];

  // -- DOM helpers ----------------------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") el.textContent = String(value);
      else if (key === "class") el.className = value;
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else if (key === "value") el.value = value;
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }
  const SVGNS = "http://www.w3.org/2000/svg";
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVGNS, tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null) continue;
      if (key === "text") el.textContent = String(value);
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, String(value));
    }
    for (const child of children.flat()) if (child) el.append(child);
    return el;
  }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

  function cookie(name) {
    for (const part of document.cookie.split(";")) {
      const [k, ...v] = part.trim().split("=");
      if (k === name) return decodeURIComponent(v.join("="));
    }
    return "";
  }

  async function api(method, path, body, raw) {
    const headers = {};
    if (method !== "GET") headers["X-CSRF-Token"] = cookie("wf_csrf");
    let payload;
    if (raw !== undefined) payload = raw;
    else if (body !== undefined) { payload = JSON.stringify(body); headers["Content-Type"] = "application/json"; }
    const response = await fetch("/console/api/" + path, { method, headers, body: payload, credentials: "same-origin" });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error((data.error ? data.error + ": " : "") + (data.message || response.statusText));
    return data;
  }

  function flash(message, isError) {
    const el = document.getElementById("flash");
    el.textContent = message;
    el.className = isError ? "error" : "";
    if (!isError) setTimeout(() => { if (el.textContent === message) el.textContent = ""; }, 4000);
  }

  function crumbs(...items) {
    const nav = clear(document.getElementById("crumbs"));
    items.forEach((item, i) => {
      if (i) nav.append(h("span", { class: "sep", text: "/" }));
      nav.append(item.href ? h("a", { href: item.href, text: item.text }) : h("span", { text: item.text }));
    });
  }

  const q = (params) => new URLSearchParams(params).toString();
  const machineUrl = (arn) => "/console/machine?" + q({ arn });
  const executionUrl = (arn) => "/console/execution?" + q({ arn });
  const editorUrl = (arn) => "/console/editor?" + q({ arn });
  const smArnOf = (execArn) => { const p = execArn.split(":"); return ["arn", p[1], "states", p[3], p[4], "stateMachine", p[6]].join(":"); };

  function fmtTime(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    const p = (n, w) => String(n).padStart(w || 2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
  }
  // Today's executions by time of day; older ones with their date.
  function fmtShortTime(iso) {
    if (!iso) return "–";
    const full = fmtTime(iso);
    return new Date(iso).toDateString() === new Date().toDateString() ? full.slice(11) : full.slice(0, 16);
  }
  function fmtDuration(startIso, endIso) {
    if (!startIso) return "–";
    const ms = (endIso ? new Date(endIso) : new Date()) - new Date(startIso);
    if (ms < 1000) return ms + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(3) + " s";
    const m = Math.floor(ms / 60000), sec = ((ms % 60000) / 1000).toFixed(1);
    if (m < 60) return `${m} min ${sec} s`;
    return `${Math.floor(m / 60)} h ${m % 60} min`;
  }
  function pretty(value) {
    if (value === undefined) return "";
    if (typeof value === "string") { try { return JSON.stringify(JSON.parse(value), null, 2); } catch { return value; } }
    return JSON.stringify(value, null, 2);
  }
  // What a person reads first in a cause: a Lambda error's message, else its first line.
  function firstLine(cause) {
    let text = String(cause);
    try { const parsed = JSON.parse(text); if (parsed && typeof parsed.errorMessage === "string") text = parsed.errorMessage; } catch { /* plain text */ }
    const line = text.trim().split("\n")[0];
    return line.length > 160 ? line.slice(0, 159) + "…" : line;
  }
  const badge = (status, label) => h("span", { class: "badge " + status, text: label || (STATE_LABEL[status] || status) });

  function every(ms, fn) { const id = setInterval(fn, ms); timers.push(id); return id; }

  // -- start-execution dialog (shared by the executions list and the execution page) ----------------
  function startDialog(stateMachineArn, initialInput) {
    const nameInput = h("input", { type: "text", id: "start-name", placeholder: "optional: a unique name", size: 50 });
    const input = h("textarea", { id: "start-input", rows: 14, spellcheck: "false" });
    input.value = initialInput || '{\n  "Comment": "Insert your JSON here"\n}';
    const err = h("div", { class: "field-error", id: "start-error" });
    const go = h("button", { class: "primary", id: "start-submit", text: "Start execution" });
    const check = () => {
      try { JSON.parse(input.value); err.textContent = ""; go.disabled = false; }
      catch (e) { err.textContent = "Input is not valid JSON: " + e.message; go.disabled = true; }
    };
    input.addEventListener("input", check);
    const dialog = h("dialog", { id: "start-dialog" },
      h("h2", { text: "Start execution" }),
      h("label", { for: "start-name", text: "Name" }), nameInput,
      h("label", { for: "start-input", text: "Input (JSON)" }), input, err,
      h("div", { class: "row" }, h("span", { class: "spacer" }),
        h("button", { text: "Cancel", onclick: () => { dialog.close(); dialog.remove(); } }), go));
    go.addEventListener("click", async () => {
      go.disabled = true;
      try {
        const out = await api("POST", "start", { stateMachineArn, name: nameInput.value.trim() || undefined, input: input.value });
        location.href = executionUrl(out.executionArn);
      } catch (e) { err.textContent = e.message; go.disabled = false; }
    });
    document.body.append(dialog);
    check();
    dialog.showModal();
  }

  // -- page: state machines -------------------------------------------------------------------------
  async function machinesPage() {
    crumbs({ text: "State machines" });
    const data = await api("GET", "state-machines");
    const rows = data.stateMachines.map((m) => h("tr", {},
      h("td", {}, h("a", { href: machineUrl(m.stateMachineArn), class: "sm-link", text: m.name })),
      h("td", { text: m.type }),
      h("td", { text: fmtTime(m.creationDate) }),
      h("td", { class: "mono muted", text: m.source || "" }),
      h("td", {}, h("a", { href: editorUrl(m.stateMachineArn), text: "Edit definition" }))));
    clear(app).append(
      h("h1", { text: "State machines" }),
      h("div", { class: "panel" },
        rows.length ? h("table", { id: "machines" },
          h("thead", {}, h("tr", {}, ["Name", "Type", "Created", "Source", ""].map((t) => h("th", { text: t })))),
          h("tbody", {}, rows))
          : h("p", { class: "muted", text: "No state machines yet. Create one with the API (CreateStateMachine) or `workflows dev`." })));
  }

  // -- page: one state machine's executions ---------------------------------------------------------
  // An outcome read from the output, as a badge: each of these executions SUCCEEDED, but a quarantined
  // or rejected file is not an accepted one.
  const OUTCOME_TONE = { accepted: "ok", passed: "ok", succeeded: "ok", done: "ok", review: "warn", skipped: "stop", rejected: "bad", quarantined: "alert", failed: "alert", error: "alert" };
  const outcomeBadge = (value) => value === null || value === undefined || value === "" ? null
    : h("span", { class: "badge outcome tone-" + (OUTCOME_TONE[String(value).toLowerCase()] || "other"), "data-outcome": String(value), text: String(value) });
  const COLUMN_LABEL = { key: "Key", outcome: "Outcome", reason: "Reason", bucket: "Bucket" };
  const columnLabel = (name) => COLUMN_LABEL[name] || name.charAt(0).toUpperCase() + name.slice(1);

  async function machinePage(arn) {
    const [machine, config] = await Promise.all([api("GET", "state-machine?" + q({ arn })), api("GET", "config")]);
    crumbs({ text: "State machines", href: "/console" }, { text: machine.name });
    const params = new URLSearchParams(location.search);
    const state = { status: "", outcome: params.get("outcome") || "", search: params.get("q") || "", offset: 0, size: 25, live: true, tab: params.get("tab") === "definition" ? "definition" : "executions" };
    const countsBox = h("div", { class: "counts", id: "counts" });
    const statusSelect = h("select", { id: "status-filter" }, h("option", { value: "", text: "Any status" }),
      STATUSES.map((st) => h("option", { value: st, text: st })));
    const outcomeSelect = h("select", { id: "outcome-filter" }, h("option", { value: "", text: "Any outcome" }));
    const search = h("input", { type: "search", id: "name-search", placeholder: "Search by key or name", size: 30, value: state.search });
    const live = h("input", { type: "checkbox", id: "live", checked: true });
    const thead = h("thead");
    const tbody = h("tbody");
    const pager = h("span", { class: "muted", id: "pager" });
    const note = h("span", { class: "muted", id: "scan-note" });
    const prev = h("button", { id: "prev", text: "‹ Previous" });
    const next = h("button", { id: "next", text: "Next ›" });
    const uploads = config.uploads;
    const targeted = uploads && (!uploads.stateMachineArns || uploads.stateMachineArns.includes(arn));
    const upload = targeted ? uploadBox(uploads, (keys) => { if (keys.length === 1) { search.value = keys[0]; state.search = keys[0]; state.offset = 0; } load(); }) : null;

    async function load() {
      const data = await api("GET", "executions?" + q({ stateMachineArn: arn, status: state.status, outcome: state.outcome, q: state.search, offset: state.offset, maxResults: state.size }));
      clear(countsBox).append(
        h("button", { class: state.status === "" ? "active" : "", "data-status": "", onclick: () => setStatus("") }, "All", h("b", { text: data.all })),
        ...STATUSES.filter((st) => data.counts[st] || st === "RUNNING" || st === "SUCCEEDED" || st === "FAILED").map((st) =>
          h("button", { class: state.status === st ? "active" : "", "data-status": st, onclick: () => setStatus(st) }, badge(st), h("b", { text: data.counts[st] || 0 }))));
      const outcomes = Object.keys(data.outcomes || {}).sort();
      if (state.outcome && !outcomes.includes(state.outcome)) outcomes.push(state.outcome);
      clear(outcomeSelect).append(h("option", { value: "", text: "Any outcome" }), ...outcomes.map((o) => h("option", { value: o, text: `${o} (${(data.outcomes || {})[o] || 0})` })));
      outcomeSelect.value = state.outcome;
      const columns = data.columns || [];
      const extra = columns.filter((c) => c !== "outcome" && c !== "reason");
      const headings = [...extra.map((c) => [c, columnLabel(c)]), ["status", "Status"], ...(columns.includes("outcome") ? [["outcome", "Outcome"]] : []), ...(columns.includes("reason") ? [["reason", "Reason"]] : []), ["name", "Name"], ["started", "Started"], ["duration", "Duration"]];
      clear(thead).append(h("tr", {}, headings.map(([c, t]) => h("th", { class: "col-" + c, text: t }))));
      clear(tbody).append(...data.executions.map((e) => {
        const cols = e.columns || {};
        return h("tr", { class: "clickable", "data-arn": e.executionArn, "data-key": cols.key ?? "", onclick: () => { location.href = executionUrl(e.executionArn); } },
          ...extra.map((c) => h("td", { class: "col-" + c + (c === "key" ? " mono key" : ""), "data-column": c, title: cols[c] ?? "", text: cols[c] ?? "–" })),
          h("td", {}, badge(e.status)),
          columns.includes("outcome") ? h("td", { class: "col-outcome", "data-column": "outcome" }, outcomeBadge(cols.outcome) || h("span", { class: "muted", text: "–" })) : null,
          columns.includes("reason") ? h("td", { class: "col-reason", "data-column": "reason", text: cols.reason ?? "" }) : null,
          h("td", { class: "name" }, h("a", { href: executionUrl(e.executionArn), class: "exec-link", text: e.name })),
          h("td", { class: "nowrap", title: fmtTime(e.startDate), text: fmtShortTime(e.startDate) }),
          h("td", { class: "nowrap", text: fmtDuration(e.startDate, e.stopDate) }));
      }));
      if (!data.executions.length) tbody.append(h("tr", {}, h("td", { colspan: headings.length, class: "muted", text: "No executions match." })));
      pager.textContent = data.total ? `${data.offset + 1}–${data.offset + data.executions.length} of ${data.total}` : "0 of 0";
      note.textContent = (state.search || state.outcome) && data.scanned < data.all ? `searched the newest ${data.scanned}` : "";
      prev.disabled = data.offset === 0;
      next.disabled = data.next === null;
    }
    function setStatus(st) { state.status = st; statusSelect.value = st; state.offset = 0; load(); }
    statusSelect.addEventListener("change", () => setStatus(statusSelect.value));
    outcomeSelect.addEventListener("change", () => { state.outcome = outcomeSelect.value; state.offset = 0; load(); });
    let debounce;
    search.addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(() => { state.search = search.value.trim(); state.offset = 0; load(); }, 250); });
    prev.addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.size); load(); });
    next.addEventListener("click", () => { state.offset += state.size; load(); });
    live.addEventListener("change", () => { state.live = live.checked; });
    every(2000, () => { if (state.tab === "executions" && state.live && !document.hidden) load().catch(() => {}); });

    const executionsPanel = h("div", { class: "panel", id: "executions-panel" },
      h("div", { class: "row" }, h("h2", { text: "Executions" }), h("span", { class: "spacer" }),
        h("label", {}, live, " Live refresh")),
      countsBox,
      h("div", { class: "row toolbar" }, statusSelect, outcomeSelect, search, note, h("span", { class: "spacer" }), pager, prev, next),
      h("div", { class: "table-box" }, h("table", { id: "executions" }, thead, tbody)));
    const body = h("div");
    const tabs = h("div", { class: "tabs" });
    function showTab() {
      clear(tabs).append(...[["executions", "Executions"], ["definition", "Definition"]].map(([key, label]) =>
        h("button", { class: state.tab === key ? "active" : "", id: "tab-" + key, text: label, onclick: () => { state.tab = key; showTab(); } })));
      clear(body).append(state.tab === "executions" ? h("div", {}, ...(upload ? [upload] : []), executionsPanel) : definitionPanel(machine, arn, params.get("coverage") === "1"));
    }
    clear(app).append(
      h("div", { class: "row" }, h("h1", { text: machine.name }), h("span", { class: "spacer" }),
        h("a", { class: "button", href: editorUrl(arn), id: "edit-definition", text: "Edit definition" }),
        h("button", { class: "primary", id: "start-execution", text: "Start execution", onclick: () => startDialog(arn) })),
      h("div", { class: "panel summary" },
        h("div", {}, h("span", { text: "ARN" }), h("b", { class: "mono", text: arn })),
        h("div", {}, h("span", { text: "Type" }), h("b", { text: machine.type })),
        h("div", {}, h("span", { text: "Revision" }), h("b", { class: "mono", text: machine.revisionId || "initial" })),
        machine.source ? h("div", {}, h("span", { text: "Source file" }), h("b", { class: "mono", text: machine.source })) : null),
      tabs, body);
    showTab();
    await load();
  }

  // The definition as it is deployed, read only: the graph beside the JSON. With Coverage on, the
  // graph shows which states this machine's recorded executions entered and which transitions they
  // took (the server counts them as `workflows coverage` does), or what a coverage JSON written by
  // `pytest --sfn-cov` says, and a summary takes the JSON's place.
  function definitionPanel(machine, arn, coverageOn) {
    let definition = null;
    try { definition = JSON.parse(machine.definition); } catch { definition = null; }
    if (!definition) return h("div", { class: "panel", id: "definition" }, h("p", { class: "muted", text: "The definition is not valid JSON." }));
    const state = { on: coverageOn, data: null, source: null, memory: { plain: {}, coverage: {} } };
    const toggle = h("input", { type: "checkbox", id: "coverage-toggle", checked: coverageOn });
    const file = h("input", { type: "file", id: "coverage-file", accept: ".json,application/json" });
    const paste = h("textarea", { id: "coverage-paste", rows: 4, spellcheck: "false", placeholder: "or paste the JSON of pytest --sfn-cov-report=json:FILE" });
    const apply = h("button", { id: "coverage-apply", text: "Show this coverage" });
    const note = h("span", { class: "muted", id: "coverage-note" });
    const layout = h("div", { class: "definition-layout" });
    const draw = () => {
      const cov = state.on && state.data ? coverageIndex(state.data) : null;
      layout.classList.toggle("with-coverage", !!cov);
      // Too small to read once fitted: the view comes closer around the first branch not taken.
      clear(layout).append(
        graphFrame(drawGraph(definition, null, null, null, null, cov), cov ? coverageFocus(state.data) : null, cov ? state.memory.coverage : state.memory.plain),
        cov ? coverageSummary(state.data, state.source) : h("pre", { id: "definition-json", class: "definition-json", text: JSON.stringify(definition, null, 2) }));
    };
    const recorded = async () => {
      note.textContent = "Counting the recorded executions…";
      state.data = await api("GET", "coverage?" + q({ arn }));
      state.source = { kind: "recorded" };
      note.textContent = "";
      draw();
    };
    const fromJson = (text, name) => {
      let doc;
      try { doc = JSON.parse(text); } catch (e) { note.textContent = "Not JSON: " + e.message; return; }
      const entries = Array.isArray(doc && doc.definitions) ? doc.definitions : doc && Array.isArray(doc.states) ? [doc] : [];
      const names = new Set(Object.keys(indexStates(definition)));
      const overlap = (d) => (d.states || []).filter((st) => names.has(st.name)).length;
      const best = entries.slice().sort((x, y) => overlap(y) - overlap(x))[0];
      if (!best || !overlap(best)) { note.textContent = "No definition in that coverage JSON has this machine's states."; return; }
      state.data = best;
      state.source = { kind: "json", name, key: best.definition, of: entries.length };
      state.on = true;
      toggle.checked = true;
      note.textContent = "";
      draw();
    };
    toggle.addEventListener("change", () => {
      state.on = toggle.checked;
      if (state.on && !state.data) recorded().catch((e) => { note.textContent = e.message; });
      else draw();
    });
    file.addEventListener("change", async () => { if (file.files.length) fromJson(await file.files[0].text(), file.files[0].name); });
    apply.addEventListener("click", () => fromJson(paste.value, "pasted JSON"));
    const recount = h("button", { id: "coverage-recorded", text: "From recorded executions", onclick: () => { state.on = true; toggle.checked = true; recorded().catch((e) => { note.textContent = e.message; }); } });
    draw();
    if (coverageOn) recorded().catch((e) => { note.textContent = e.message; });
    return h("div", { class: "panel", id: "definition" },
      h("div", { class: "row toolbar coverage-tools" },
        h("label", { class: "switch" }, toggle, " Coverage"), note, h("span", { class: "spacer" }),
        h("details", { class: "coverage-import" }, h("summary", { text: "Use a coverage JSON" }),
          h("div", { class: "row" }, file, recount), paste, h("div", { class: "row" }, apply))),
      layout);
  }

  // Coverage as the graph looks it up: states by name, edges by from/kind/index/to (the same key
  // workflows.service.coverage gives them).
  const edgeKey = (from, kind, index, to) => [from, kind, index === null || index === undefined ? "" : index, to].join("\u0000");
  function coverageIndex(data) {
    const states = {}, edges = {}, retries = {};
    for (const st of data.states || []) states[st.name] = st;
    for (const e of data.edges || []) {
      edges[edgeKey(e.from, e.kind, e.index, e.to)] = e;
      if (e.kind === "retry") (retries[e.from] = retries[e.from] || []).push(e);
    }
    return { states, edges, retries };
  }

  // Where the view opens when the whole graph is too small to read: the first Choice entered with a
  // rule never taken (its untaken branches fan out from there), else the first state entered with
  // a Catch or Next never taken, else the first state never entered.
  function coverageFocus(data) {
    const entered = new Set((data.states || []).filter((st) => st.covered).map((st) => st.name));
    const open = (kinds) => (data.edges || []).find((e) => e.observable && !e.covered && kinds.includes(e.kind) && entered.has(e.from));
    const branch = open(["choice", "default"]) || open(["catch", "next"]);
    const missed = (data.states || []).find((st) => st.observable && !st.covered);
    return branch ? branch.from : missed ? missed.name : null;
  }

  function coverageSummary(data, source) {
    const s = data.summary || {};
    const part = (k) => s[k] || { covered: 0, total: 0 };
    const moves = ["next", "default", "choice", "catch"].reduce((a, k) => ({ covered: a.covered + part(k).covered, total: a.total + part(k).total }), { covered: 0, total: 0 });
    const fraction = (p) => `${p.covered}/${p.total}`;
    const from = source && source.kind === "json"
      ? h("p", { class: "muted" }, "From ", h("code", { text: source.name }), `: ${data.definition}, ${data.executions} executions`)
      : h("p", { class: "muted", id: "coverage-source" }, `From ${data.counted} recorded execution${data.counted === 1 ? "" : "s"} of this definition`,
        data.otherRevisions ? ` (${data.otherRevisions} of other revisions not counted)` : "", data.recorded > data.limit ? ` — the newest ${data.limit} of ${data.recorded}` : "", ".");
    const label = (e) => ({ next: "Next", default: "Default", choice: `Choice rule ${e.index + 1}`, catch: `Catch ${e.index + 1}`, retry: `Retry ${e.index + 1}` })[e.kind] || e.kind;
    const unentered = new Set((data.states || []).filter((st) => st.observable && !st.covered).map((st) => st.name));
    const missed = (data.edges || []).filter((e) => e.observable && !e.covered && !unentered.has(e.from));
    const kinds = ["next", "default", "choice", "catch", "retry"].filter((k) => part(k).total);
    return h("div", { class: "coverage-summary", id: "coverage-summary" },
      h("h2", { text: "Coverage" }), from,
      h("div", { class: "coverage-figures" },
        h("div", { id: "coverage-states" }, h("b", { text: fraction(part("states")) }), h("span", { text: "states entered" })),
        h("div", { id: "coverage-transitions" }, h("b", { text: fraction(moves) }), h("span", { text: "transitions taken" })),
        h("div", {}, h("b", { text: (data.percent ?? 0) + "%" }), h("span", { text: "of all items" }))),
      h("table", { class: "coverage-kinds" }, h("tbody", {}, kinds.map((k) => h("tr", { "data-kind": k }, h("td", { text: k === "retry" ? "Retry used" : k.charAt(0).toUpperCase() + k.slice(1) }), h("td", { text: fraction(part(k)) }))))),
      h("div", { class: "legend" }, h("span", { class: "badge cov-covered", text: "Covered" }), h("span", { class: "badge cov-missed", text: "Not covered" }), h("span", { class: "badge cov-hidden", text: "Not observable" })),
      unentered.size || missed.length ? h("div", { class: "coverage-missing", id: "coverage-missing" }, h("h3", { text: "Not covered" }),
        h("ul", {},
          [...unentered].map((name) => h("li", { "data-state": name }, h("b", { text: name }), " never entered")),
          missed.map((e) => h("li", { "data-edge": `${e.from}:${e.kind}:${e.index ?? ""}` }, h("b", { text: e.from }), ` ${label(e)} → ${e.to}`))))
        : h("p", { class: "ok-text", text: "Every state and transition is covered." }),
      data.notes && data.notes.length ? h("details", {}, h("summary", { text: `${data.notes.length} note${data.notes.length === 1 ? "" : "s"}` }), h("ul", {}, data.notes.map((n) => h("li", { text: n })))) : null);
  }

  function uploadBox(uploads, after) {
    const file = h("input", { type: "file", id: "upload-file", multiple: true });
    const result = h("div", { id: "upload-result", class: "muted" });
    const button = h("button", { id: "upload-submit", text: "Upload" });
    button.addEventListener("click", async () => {
      if (!file.files.length) { result.textContent = "Choose a file first."; return; }
      button.disabled = true;
      const keys = [];
      try {
        for (const f of file.files) {
          const out = await api("PUT", "uploads?" + q({ name: f.name }), undefined, f);
          keys.push(out.key);
          clear(result).append("Uploaded ", ...keys.flatMap((k, i) => [i ? ", " : "", h("code", { class: "uploaded-key", text: `s3://${out.bucket}/${k}` })]));
        }
        file.value = "";
        setTimeout(() => after(keys), 500);
      } catch (e) { result.append(h("div", { class: "err-text", text: e.message })); }
      button.disabled = false;
    });
    return h("div", { class: "panel", id: "upload" },
      h("h2", { text: "Upload to start executions" }),
      h("div", { class: "row" }, h("span", { class: "muted" }, "Files go to ", h("code", { text: "s3://" + uploads.bucket + "/" + (uploads.prefix || "") })), file, button),
      result);
  }

  // -- the definition graph (dagre compound layout) -------------------------------------------------
  function measure(text, size) { return Math.max(40, text.length * size * 0.6); }

  // A Choice rule as a condition a person reads on the edge: `$.outcome == "review"`.
  const OPS = [["LessThanEquals", "<="], ["GreaterThanEquals", ">="], ["LessThan", "<"], ["GreaterThan", ">"], ["Equals", "=="], ["Matches", "matches"]];
  function conditionText(rule) {
    if (!rule || typeof rule !== "object") return "?";
    if (typeof rule.Condition === "string") return rule.Condition.replace(/^\{%\s*|\s*%\}$/g, "");
    if (Array.isArray(rule.And)) return rule.And.map((r) => "(" + conditionText(r) + ")").join(" && ");
    if (Array.isArray(rule.Or)) return rule.Or.map((r) => "(" + conditionText(r) + ")").join(" || ");
    if (rule.Not) return "!(" + conditionText(rule.Not) + ")";
    const variable = rule.Variable || "$";
    for (const [key, value] of Object.entries(rule)) {
      if (key === "Variable" || key === "Next" || key === "Comment" || key === "Assign" || key === "Output") continue;
      const isPath = key.endsWith("Path");
      const base = isPath ? key.slice(0, -4) : key;
      if (/^Is(Present|Null|String|Numeric|Boolean|Timestamp)$/.test(base)) return (value ? "" : "!") + base.slice(2).toLowerCase() + "(" + variable + ")";
      const op = OPS.find(([suffix]) => base.endsWith(suffix));
      if (!op) continue;
      const shown = isPath ? String(value) : JSON.stringify(value);
      return `${variable} ${op[1]} ${shown}`;
    }
    return "?";
  }
  const short = (text, n) => (text.length > n ? text.slice(0, n - 1) + "…" : text);
  const LABEL_MAX = 26;

  function buildGraph(definition) {
    const g = new dagre.graphlib.Graph({ compound: true, multigraph: true });
    g.setGraph({ rankdir: "TB", nodesep: 22, ranksep: 30, edgesep: 8, marginx: 16, marginy: 16 });
    g.setDefaultEdgeLabel(() => ({}));
    const info = {};
    let edgeCount = 0;
    // Catch edges weigh less, and only the first into each state takes part in the layout (it places
    // the handler below the states that fail into it); the others are drawn over the finished layout.
    // Every catch edge in the layout drags dummy nodes across the ranks between, and dagre then bends
    // the main path around them: on the pipeline this halves the longest detour of a main edge.
    const caught = new Set(), extra = [];
    // `cov`: the edge as coverage names it ({kind, index}); none for the edges from Start and to End.
    const edge = (from, to, label, kind, title, names, cov) => {
      const text = label ? short(label, LABEL_MAX) : "";
      if (kind === "catch" && caught.has(to)) { extra.push({ from, to, kind, title, names, cov }); return; }
      if (kind === "catch") caught.add(to);
      g.setEdge(from, to, { label: text, title: title || label || "", kind: kind || "", names: names || [], cov: cov || null, width: text ? measure(text, 10) : 0, height: text ? 14 : 0, labelpos: "c", weight: kind === "catch" ? 1 : 3, minlen: 1 }, "e" + edgeCount++);
    };
    g.setNode("__start", { kind: "terminal", label: "Start", width: 64, height: 28 });
    g.setNode("__end", { kind: "terminal", label: "End", width: 64, height: 28 });

    function scope(states, startAt, cluster, entry, exit, entryName) {
      if (!states || typeof states !== "object") return;
      for (const [name, spec] of Object.entries(states)) {
        if (!spec || typeof spec !== "object") continue;
        const id = "n:" + name;
        const type = String(spec.Type || "?");
        const container = type === "Map" || type === "Parallel";
        info[name] = { type, container };
        g.setNode(id, { kind: "state", name, type, width: Math.max(measure(name, 13), measure(type, 10.5)) + 28, height: 44 });
        let out = id;
        if (container) {
          const c = "c:" + name;
          g.setNode(c, { kind: "cluster", label: type === "Map" ? "Map: " + name : "Parallel: " + name });
          if (cluster) g.setParent(c, cluster);
          g.setParent(id, c);
          const join = "j:" + name;
          g.setNode(join, { kind: "join", width: 10, height: 10 });
          g.setParent(join, c);
          out = join;
          if (type === "Map") {
            const proc = spec.ItemProcessor || spec.Iterator || {};
            scope(proc.States, proc.StartAt, c, id, join, name);
          } else {
            (spec.Branches || []).forEach((branch, i) => {
              const b = "b:" + name + ":" + i;
              g.setNode(b, { kind: "cluster", label: "Branch " + (i + 1) });
              g.setParent(b, c);
              scope(branch && branch.States, branch && branch.StartAt, b, id, join, name);
            });
          }
        } else if (cluster) {
          g.setParent(id, cluster);
        }
        info[name].out = out;
      }
      if (startAt && states[startAt]) edge(entry, "n:" + startAt, "", "", "", [entryName, startAt]);
      for (const [name, spec] of Object.entries(states)) {
        if (!spec || typeof spec !== "object" || !info[name]) continue;
        const from = info[name].out;
        const to = (target) => (states[target] ? "n:" + target : null);
        if (spec.Type === "Choice") {
          (spec.Choices || []).forEach((c, i) => {
            if (!c || !to(c.Next)) return;
            const text = conditionText(c);
            edge(from, to(c.Next), text, "choice", `Rule ${i + 1}: ${text}`, [name, c.Next], { kind: "choice", index: i });
          });
          if (to(spec.Default)) edge(from, to(spec.Default), "Default", "choice", "Default", [name, spec.Default], { kind: "default", index: null });
        } else if (spec.Next && to(spec.Next)) edge(from, to(spec.Next), "", "", "", [name, spec.Next], { kind: "next", index: null });
        if (spec.End === true || spec.Type === "Succeed" || spec.Type === "Fail") edge(from, exit, "", "", "", [name, null]);
        (spec.Catch || []).forEach((c, i) => {
          if (!c || !to(c.Next)) return;
          const errors = (c.ErrorEquals || []).join(", ");
          // No text on the edge: dashed and coloured says "catch", the hover names the errors, and a
          // label would take room in the layout that the main path needs.
          edge(from, to(c.Next), "", "catch", `Catch ${i + 1}: ${errors}`, [name, c.Next], { kind: "catch", index: i });
        });
      }
    }
    scope(definition && definition.States, definition && definition.StartAt, null, "__start", "__end", null);
    dagre.layout(g);
    return { g, info, extra };
  }

  // `taken(from, to)` says whether the run went along an edge (state names; null is Start or End).
  // `coverage` (coverageIndex) colours states and edges by whether executions covered them instead.
  function drawGraph(definition, statusOf, onSelect, selected, taken, coverage) {
    const { g, extra } = buildGraph(definition);
    const graph = g.graph();
    const width = Math.ceil(graph.width || 200), height = Math.ceil(graph.height || 100);
    const svgEl = s("svg", { class: "graph" + (coverage ? " coverage" : ""), id: "graph", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "state machine graph" });
    const marker = (id, fill) => s("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, s("path", { d: "M0,0 L10,5 L0,10 z", fill }));
    svgEl.append(s("defs", {}, marker("arrow", "#7d8998"), marker("arrow-taken", "#0972d3"), marker("arrow-covered", "#1d8102"), marker("arrow-missed", "#d13212")));
    // An edge's coverage: its class, its arrow, what its hover adds, and a count drawn at `at`.
    const edgeCoverage = (d) => {
      if (!coverage) return null;
      const item = d.cov ? coverage.edges[edgeKey(d.names[0], d.cov.kind, d.cov.index, d.names[1])] : null;
      if (!item) return { cls: " cov-none", marker: "url(#arrow)", note: "", attrs: {} };
      const st = item.observable === false ? "hidden" : item.covered ? "covered" : "missed";
      return {
        cls: " cov-" + st, marker: st === "covered" ? "url(#arrow-covered)" : st === "missed" ? "url(#arrow-missed)" : "url(#arrow)",
        note: st === "hidden" ? " — not observable" : item.covered ? ` — taken ${item.hits}×` : " — never taken",
        attrs: { "data-coverage": st, "data-hits": item.hits, "data-kind": item.kind, "data-index": item.index ?? "" }, hits: item.covered ? item.hits : null,
      };
    };
    const hitsLabel = (x, y, hits) => {
      const text = hits + "×", w = text.length * 6 + 8;
      return s("g", { class: "hits" }, s("rect", { x: x - w / 2, y: y - 7, width: w, height: 13, rx: 6 }), s("text", { x, y: y + 3, "text-anchor": "middle", text }));
    };
    const clusters = s("g"), edges = s("g"), onPath = s("g"), nodes = s("g");
    for (const v of g.nodes()) {
      const n = g.node(v);
      if (!n || n.kind !== "cluster") continue;
      clusters.append(s("g", { class: "cluster", "data-cluster": v },
        s("rect", { x: n.x - n.width / 2, y: n.y - n.height / 2, width: n.width, height: n.height, rx: 8 }),
        s("text", { x: n.x - n.width / 2 + 8, y: n.y - n.height / 2 + 13, text: n.label })));
    }
    for (const e of g.edges()) {
      const d = g.edge(e);
      const pts = d.points || [];
      if (!pts.length) continue;
      const path = "M" + pts.map((p) => `${p.x},${p.y}`).join(" L");
      const went = !!(taken && d.names.length && taken(d.names[0], d.names[1], d.kind === "catch"));
      const cov = edgeCoverage(d);
      const title = (d.title || "") + (cov ? cov.note : "");
      const group = s("g", { class: "edge" + (d.kind ? " " + d.kind : "") + (went ? " taken" : "") + (cov ? cov.cls : ""), "data-from": d.names[0] ?? "", "data-to": d.names[1] ?? "", ...(cov ? cov.attrs : {}) },
        title ? s("title", { text: title }) : null,
        s("path", { d: path, "marker-end": went ? "url(#arrow-taken)" : cov ? cov.marker : "url(#arrow)" }));
      if (d.label) {
        group.append(s("rect", { class: "label-bg", x: d.x - d.width / 2, y: d.y - 8, width: d.width, height: 14, rx: 3 }));
        group.append(s("text", { x: d.x, y: d.y + 3, "text-anchor": "middle", text: d.label }));
      }
      if (cov && cov.hits) {
        const mid = pts[Math.floor(pts.length / 2)];
        group.append(d.label ? hitsLabel(d.x, d.y + 15, cov.hits) : hitsLabel(mid.x, mid.y, cov.hits));
      }
      (went || (cov && cov.hits) ? onPath : edges).append(group);
    }
    for (const d of extra) {
      // From the side of the failing state to the top of its handler, as a curve over the layout.
      const a = g.node(d.from), b = g.node(d.to);
      if (!a || !b) continue;
      const side = b.x >= a.x ? 1 : -1;
      const x1 = a.x + side * a.width / 2, y1 = a.y, x2 = b.x + side * Math.min(b.width / 2 - 8, 24), y2 = b.y - b.height / 2;
      const bend = Math.max(40, Math.abs(y2 - y1) / 3);
      const path = `M${x1},${y1} C${x1 + side * bend},${y1} ${x2},${y2 - bend} ${x2},${y2}`;
      const went = !!(taken && taken(d.names[0], d.names[1], true));
      const cov = edgeCoverage(d);
      const group = s("g", { class: "edge catch extra" + (went ? " taken" : "") + (cov ? cov.cls : ""), "data-from": d.names[0] ?? "", "data-to": d.names[1] ?? "", ...(cov ? cov.attrs : {}) },
        s("title", { text: d.title + (cov ? cov.note : "") }), s("path", { d: path, "marker-end": went ? "url(#arrow-taken)" : cov ? cov.marker : "url(#arrow)" }));
      // The middle of the curve, where its count goes.
      if (cov && cov.hits) group.append(hitsLabel((x1 + 3 * (x1 + side * bend) + 3 * x2 + x2) / 8, (y1 + 3 * y1 + 3 * (y2 - bend) + y2) / 8, cov.hits));
      (went || (cov && cov.hits) ? onPath : edges).append(group);
    }
    for (const v of g.nodes()) {
      const n = g.node(v);
      if (!n || n.kind === "cluster") continue;
      if (n.kind === "terminal") {
        nodes.append(s("g", { class: "terminal" }, s("rect", { x: n.x - n.width / 2, y: n.y - n.height / 2, width: n.width, height: n.height, rx: 14 }),
          s("text", { x: n.x, y: n.y + 4, "text-anchor": "middle", text: n.label })));
      } else if (n.kind === "join") {
        nodes.append(s("g", { class: "join" }, s("circle", { cx: n.x, cy: n.y, r: 4 })));
      } else {
        const status = statusOf ? statusOf(n.name) : "notrun";
        const item = coverage ? coverage.states[n.name] : null;
        const covered = item ? (item.observable === false ? "hidden" : item.covered ? "covered" : "missed") : null;
        let title = `${n.name} (${n.type}) — ${STATE_LABEL[status]}`;
        if (coverage) {
          title = `${n.name} (${n.type}) — ` + (!item ? "not in the coverage" : covered === "hidden" ? "not observable (a Distributed Map's child executions)" : item.covered ? `entered ${item.hits}×` : "never entered");
          for (const r of coverage.retries[n.name] || []) title += `\nRetry ${r.index + 1}: ` + (r.covered ? `used ${r.hits}×` : "never used");
        }
        const group = s("g", { class: `node ${coverage ? "cov-" + (covered || "none") : "st-" + status}${selected === n.name ? " selected" : ""}`, "data-state": n.name, "data-status": status, "data-x": n.x, "data-y": n.y, tabindex: 0, ...(item ? { "data-coverage": covered, "data-hits": item.hits } : {}) },
          s("title", { text: title }),
          s("rect", { x: n.x - n.width / 2, y: n.y - n.height / 2, width: n.width, height: n.height, rx: 6 }),
          s("text", { x: n.x, y: n.y - 2, "text-anchor": "middle", text: n.name }),
          s("text", { class: "type", x: n.x, y: n.y + 13, "text-anchor": "middle", text: n.type }));
        if (item && item.hits) group.append(hitsLabel(n.x + n.width / 2 - 4, n.y - n.height / 2, item.hits));
        if (onSelect) {
          group.addEventListener("click", () => onSelect(n.name));
          group.addEventListener("keydown", (ev) => { if (ev.key === "Enter") onSelect(n.name); });
        }
        nodes.append(group);
      }
    }
    svgEl.append(clusters, edges, onPath, nodes);
    return svgEl;
  }

  // The graph in a panel of its own size: fitted on open, zoomed with the wheel or the buttons, panned
  // by dragging. Zoom and pan move the SVG's viewBox, so the drawing stays crisp at any scale. With a
  // `focus` state (the failed or current one), the view is centred on it at a readable scale.
  // `memory` (an object) keeps the view across re-renders of the same page.
  function graphFrame(svgEl, focus, memory) {
    const width = Number(svgEl.getAttribute("width")), height = Number(svgEl.getAttribute("height"));
    svgEl.setAttribute("width", "100%");
    svgEl.setAttribute("height", "100%");
    svgEl.setAttribute("preserveAspectRatio", "xMidYMid meet");
    const box = h("div", { class: "graph-box", id: "graph-box" }, svgEl);
    const view = { x: 0, y: 0, k: 1 };
    const size = () => ({ w: box.clientWidth || 600, h: box.clientHeight || 400 });
    const apply = () => {
      const { w, h: bh } = size();
      svgEl.setAttribute("viewBox", `${view.x} ${view.y} ${w / view.k} ${bh / view.k}`);
      if (memory) memory.view = { ...view };
      zoomLabel.textContent = Math.round(view.k * 100) + "%";
    };
    const fit = () => {
      const { w, h: bh } = size();
      view.k = Math.min(w / width, bh / height, 1.25);
      view.x = (width - w / view.k) / 2;
      view.y = (height - bh / view.k) / 2;
      apply();
    };
    // Centred in the part of the panel the window shows, so the state is on screen without scrolling.
    const centreOn = (x, y, k) => {
      const { w, h: bh } = size();
      const top = box.getBoundingClientRect().top;
      const shown = Math.min(bh, window.innerHeight - top);
      const middle = shown > 120 ? Math.max(0, -top) / 2 + shown / 2 : bh / 2;
      view.k = k;
      view.x = x - w / k / 2;
      view.y = y - middle / k;
      apply();
    };
    const open = () => {
      if (memory && memory.view) { Object.assign(view, memory.view); apply(); return; }
      fit();
      const node = focus ? svgEl.querySelector(`.node[data-state="${CSS.escape(focus)}"]`) : null;
      // Too small to read once fitted: come closer, around the state that matters.
      if (node && view.k < 0.75) centreOn(Number(node.getAttribute("data-x")), Number(node.getAttribute("data-y")), 0.75);
    };
    const zoom = (factor, cx, cy) => {
      const { w, h: bh } = size();
      const px = cx ?? w / 2, py = cy ?? bh / 2;
      const k = Math.min(4, Math.max(0.1, view.k * factor));
      const gx = view.x + px / view.k, gy = view.y + py / view.k;
      view.k = k;
      view.x = gx - px / k;
      view.y = gy - py / k;
      apply();
    };
    box.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const r = box.getBoundingClientRect();
      zoom(Math.exp(-ev.deltaY * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
    }, { passive: false });
    let drag = null;
    box.addEventListener("pointerdown", (ev) => {
      if (ev.button !== 0 || ev.target.closest(".node")) return;
      drag = { x: ev.clientX, y: ev.clientY, vx: view.x, vy: view.y };
      box.setPointerCapture(ev.pointerId);
      box.classList.add("dragging");
    });
    box.addEventListener("pointermove", (ev) => {
      if (!drag) return;
      view.x = drag.vx - (ev.clientX - drag.x) / view.k;
      view.y = drag.vy - (ev.clientY - drag.y) / view.k;
      apply();
    });
    const end = () => { drag = null; box.classList.remove("dragging"); };
    box.addEventListener("pointerup", end);
    box.addEventListener("pointercancel", end);
    const zoomLabel = h("span", { class: "muted zoom-level", id: "zoom-level" });
    const tools = h("div", { class: "graph-tools" },
      h("button", { id: "graph-fit", title: "Fit the whole graph", text: "Fit", onclick: () => fit() }),
      h("button", { id: "graph-zoom-in", title: "Zoom in", text: "+", onclick: () => zoom(1.25) }),
      h("button", { id: "graph-zoom-out", title: "Zoom out", text: "−", onclick: () => zoom(0.8) }),
      focus ? h("button", { id: "graph-focus", title: "Centre on " + focus, text: "Centre on " + short(focus, 24), onclick: () => { if (memory) memory.view = null; open(); } }) : null,
      zoomLabel);
    const frame = h("div", { class: "graph-frame" }, tools, box);
    // Laid out only once in the page: fit then, and again if the panel changes size before any zoom.
    let opened = false;
    const observer = new ResizeObserver(() => { if (!box.isConnected) { observer.disconnect(); return; } if (!opened && box.clientWidth) { opened = true; open(); } else if (opened) apply(); });
    observer.observe(box);
    return frame;
  }

  function legend() {
    return h("div", { class: "legend" }, STATE_STATUSES.map((st) => badge(st)));
  }

  // -- page: one execution --------------------------------------------------------------------------

  // The page asks the server for what it shows, a part at a time: the first answer holds the graph's
  // summary (a state's status, the edges taken, the Map iterations: sized by the definition, not the
  // history) and the first events; one state's payloads, the table's rows and later events come
  // when they are looked at. A long history is read on the server while the page shows what is read.
  async function executionPage(arn) {
    const view = { graph: {}, tab: "graph", selected: null, runId: null, pickers: {}, tableFilter: "", tableStatus: "", sort: { key: "id", dir: 1 }, tableShown: 100, eventSearch: "", tokenValues: {}, openEvents: new Set(), events: null, details: null };
    let data = await api("GET", "execution?" + q({ arn }));
    let definition = {};
    try { definition = JSON.parse(data.stateMachine.definition); } catch { definition = {}; }
    const smArn = data.execution.stateMachineArn || smArnOf(arn);
    crumbs({ text: "State machines", href: "/console" }, { text: data.stateMachine.name, href: machineUrl(smArn) }, { text: data.execution.name });
    const chosen = () => JSON.stringify(Object.fromEntries(Object.entries(view.pickers).filter(([, v]) => v !== "all")));
    const withPickers = (params) => q({ arn, pickers: chosen(), ...params });

    const statusOf = (name) => ((data.summary.states[name] || {}).status || "notrun");
    function takenEdges() {
      const pairs = new Set(data.summary.taken.map(([kind, from, to]) => kind + "\u0000" + from + "\u0000" + to));
      return (from, to, isCatch) => pairs.has((isCatch ? "catch" : "next") + "\u0000" + from + "\u0000" + to);
    }

    function render() {
      const e = data.execution;
      const actions = h("div", { class: "row" },
        e.status === "RUNNING" ? h("button", { class: "danger", id: "stop", text: "Stop execution", onclick: stop }) : null,
        e.redriveStatus === "REDRIVABLE" ? h("button", { id: "redrive", text: "Redrive", onclick: redrive }) : null,
        h("button", { id: "new-execution", text: "New execution", onclick: () => startDialog(smArn, pretty(e.input)) }),
        h("a", { class: "button", href: editorUrl(smArn), text: "Edit definition" }));
      // The error and one line of its cause; the whole cause (a Lambda's stack trace) one click away,
      // so the graph stays on the first screen.
      const causeLine = e.cause ? firstLine(e.cause) : "";
      const banner = e.error || e.cause ? h("div", { class: "banner", id: "error-banner" },
        h("div", {}, h("span", { text: "Error: " }), h("span", { class: "error-name", text: e.error || "(none)" }), causeLine ? h("span", { class: "cause-line", text: " — " + causeLine }) : null),
        e.cause ? h("details", { open: view.causeOpen || (String(e.cause).length <= 160 && !String(e.cause).includes("\n")), ontoggle: (ev) => { view.causeOpen = ev.target.open; } },
          h("summary", { text: "Cause" }), h("pre", { class: "cause", text: pretty(e.cause) })) : null) : null;
      const summary = h("div", { class: "panel summary", id: "summary" },
        h("div", {}, h("span", { text: "Status" }), h("b", {}, badge(e.status))),
        h("div", {}, h("span", { text: "Started" }), h("b", { text: fmtTime(e.startDate) })),
        h("div", {}, h("span", { text: "Ended" }), h("b", { text: fmtTime(e.stopDate) })),
        h("div", {}, h("span", { text: "Duration" }), h("b", { id: "duration", text: fmtDuration(e.startDate, e.stopDate) })),
        h("div", {}, h("span", { text: "State transitions" }), h("b", { id: "transitions", text: data.summary.transitions.toLocaleString("en-US") }),
          h("span", { class: "events-of", text: " · " }), h("b", { id: "event-count", text: data.summary.events.toLocaleString("en-US") + (data.summary.complete ? "" : "…") }), h("span", { class: "events-of", text: " events" })),
        h("div", {}, h("span", { text: "Redrives" }), h("b", { text: e.redriveCount || 0 })),
        h("div", { class: "wide" }, h("span", { text: "Execution ARN" }), h("b", { class: "mono", text: e.executionArn })),
        h("div", {}, h("span", { text: "Revision" }), h("b", { class: "mono", text: data.stateMachine.revisionId || "initial" })));
      const reading = data.summary.complete ? null : h("div", { class: "reading muted", id: "reading" }, `Reading the history: ${data.summary.events.toLocaleString("en-US")} events so far…`);
      const io = h("div", { class: "io" },
        h("div", { class: "panel" }, h("h2", { text: "Input" }), h("pre", { id: "exec-input", text: pretty(e.input) })),
        h("div", { class: "panel" }, h("h2", { text: "Output" }), h("pre", { id: "exec-output", text: e.output !== undefined ? pretty(e.output) : e.status === "RUNNING" ? "(running)" : "(none)" })));
      const tabs = h("div", { class: "tabs" }, [["graph", "Graph view"], ["table", "Table view"], ["events", "Events"]].map(([key, label]) =>
        h("button", { class: view.tab === key ? "active" : "", id: "tab-" + key, text: label, onclick: () => { view.tab = key; render(); } })));
      const body = view.tab === "graph" ? graphView() : view.tab === "table" ? tableView() : eventsView();
      const scrollY = window.scrollY;
      clear(app).append(
        h("div", { class: "row" }, h("h1", { id: "exec-name", text: e.name }), badge(e.status), h("span", { class: "spacer" }), actions),
        ...[banner, summary, tokensPanel()].filter(Boolean),
        h("div", { class: "panel" }, tabs, reading, body),
        io);
      window.scrollTo(0, scrollY);
    }

    function tokensPanel() {
      if (!data.pendingTasks.length) return null;
      return h("div", { class: "panel tokens", id: "tokens" }, h("h2", { text: "Waiting for a task token" }),
        data.pendingTasks.map((t) => {
          const output = h("textarea", { rows: 3, class: "token-output", spellcheck: "false" });
          output.value = view.tokenValues[t.taskToken + ":o"] ?? '{"approved": true}';
          output.addEventListener("input", () => { view.tokenValues[t.taskToken + ":o"] = output.value; });
          const error = h("input", { type: "text", class: "token-error", placeholder: "Error", value: view.tokenValues[t.taskToken + ":e"] ?? "Rejected" });
          error.addEventListener("input", () => { view.tokenValues[t.taskToken + ":e"] = error.value; });
          const cause = h("input", { type: "text", class: "token-cause", placeholder: "Cause", size: 40, value: view.tokenValues[t.taskToken + ":c"] ?? "" });
          cause.addEventListener("input", () => { view.tokenValues[t.taskToken + ":c"] = cause.value; });
          return h("div", { class: "token", "data-token": t.taskToken },
            h("div", {}, h("b", { text: t.stateName || t.resource || "task" }), " ", h("span", { class: "muted", text: t.kind })),
            h("div", {}, h("span", { class: "muted", text: "Token " }), h("code", { text: t.taskToken })),
            h("label", { class: "muted", text: "Output (JSON)" }), output,
            h("div", { class: "row" },
              h("button", { class: "primary send-success", text: "Send task success", onclick: () => act("task-success", { taskToken: t.taskToken, output: output.value }, "Task success sent") }),
              error, cause,
              h("button", { class: "danger send-failure", text: "Send task failure", onclick: () => act("task-failure", { taskToken: t.taskToken, error: error.value, cause: cause.value }, "Task failure sent") })));
        }));
    }

    // A Map's iterations: the ones that did not succeed are listed first (the server sends a few
    // hundred at most); any other is one number away.
    async function pick(name, value) {
      view.pickers[name] = value;
      view.runId = null;
      view.details = null;
      view.tableShown = 100;
      const fresh = await api("GET", "execution/summary?" + withPickers({}));
      data.summary = fresh.summary;
      render();
    }
    function mapPickers() {
      const names = Object.keys(data.summary.maps);
      if (!names.length) return null;
      return h("div", { class: "pickers" }, names.map((name) => {
        const map = data.summary.maps[name];
        const current = view.pickers[name] ?? "all";
        const listed = map.iterations.map(([k]) => String(k));
        const select = h("select", { class: "iteration-picker", "data-map": name },
          h("option", { value: "all", text: `All iterations (${map.count.toLocaleString("en-US")})` }),
          map.iterations.map(([k, st]) => h("option", { value: String(k), text: `Iteration #${k} — ${STATE_LABEL[st]}` })),
          current !== "all" && !listed.includes(current) ? h("option", { value: current, text: `Iteration #${current}` }) : null);
        select.value = current;
        select.addEventListener("change", () => pick(name, select.value).catch((e) => flash(e.message, true)));
        const jump = map.count > map.iterations.length ? h("input", { type: "number", class: "iteration-jump", "data-map": name, min: 0, max: map.count - 1, placeholder: "#", title: "Go to an iteration by its index" }) : null;
        if (jump) jump.addEventListener("change", () => { if (jump.value !== "") pick(name, String(Number(jump.value))).catch((e) => flash(e.message, true)); });
        return h("label", {}, h("span", { class: "muted", text: `Map ${name}: ` }), select, jump ? " " : null, jump);
      }));
    }

    function graphView() {
      const select = (name) => { view.selected = name; view.runId = null; view.details = null; render(); };
      const focus = data.summary.focus;
      return h("div", {}, mapPickers(), h("div", { class: "graph-layout" },
        h("div", {}, graphFrame(drawGraph(definition, statusOf, select, view.selected, takenEdges()), focus, view.graph), legend()),
        detailsPanel()));
    }

    function detailsPanel() {
      const panel = h("div", { class: "panel details", id: "details" });
      if (view.selected === null) { panel.append(h("p", { class: "muted", text: "Select a state to see its input, output and each processing step." })); return panel; }
      const type = (definitionIndex[view.selected] || {}).type || "";
      panel.append(h("h3", { id: "details-name", text: view.selected }), h("div", { class: "muted", text: type }));
      const key = JSON.stringify([view.selected, view.runId, chosen(), data.summary.events, data.execution.status]);
      if (!view.details || view.details.key !== key) {
        const body = h("p", { class: "muted", text: "Loading…" });
        panel.append(body);
        api("GET", "execution/state?" + withPickers({ state: view.selected, run: view.runId ?? "" })).then((found) => {
          view.details = { key, found };
          if (panel.isConnected) panel.replaceWith(detailsPanel());
        }).catch((e) => { body.textContent = e.message; });
        return panel;
      }
      const { runs, run, total } = view.details.found;
      if (!run) { panel.append(h("p", {}, badge("notrun"), " This state has not run", Object.keys(view.pickers).some((k) => view.pickers[k] !== "all") ? " in the selected iteration." : ".")); return panel; }
      const index = runs.findIndex((r) => r.id === run.id);
      const label = (r, i) => String(total - runs.length + i + 1) + (r.scope.length ? " " + scopeText(r) : "");
      const choose = (id) => { view.runId = id; render(); };
      if (runs.length > 1 && runs.length <= 12) {
        panel.append(h("div", { class: "row" }, h("span", { class: "muted", text: "Run" }),
          runs.map((r, i) => h("button", { class: i === index ? "primary" : "", text: label(r, i), onclick: () => choose(r.id) }))));
      } else if (runs.length > 12) {
        const sel = h("select", { id: "run-picker" }, runs.map((r, i) => h("option", { value: r.id, text: `Run ${label(r, i)} — ${STATE_LABEL[r.status]}` })));
        sel.value = String(run.id);
        sel.addEventListener("change", () => choose(Number(sel.value)));
        panel.append(h("div", { class: "row" }, h("span", { class: "muted", text: `${total.toLocaleString("en-US")} runs` + (total > runs.length ? ` (the last ${runs.length} listed)` : "") }), sel));
      }
      panel.append(runDetails(run));
      return panel;
    }

    // A run that ended with the execution (a Fail state, a cancelled branch) has no exit of its own.
    function runEnd(run) { return run.end || (run.status !== "running" ? data.execution.stopDate : null); }

    function scopeText(run) { return run.scope.map(([c, k]) => ((definitionIndex[c] || {}).type === "Map" ? `${c}[${k}]` : `${c}/branch ${Number(k) + 1}`)).join(" › "); }

    function runDetails(run) {
      const box = h("div", { class: "run", "data-run": run.id });
      box.append(h("div", { class: "row" }, badge(run.status), h("span", { class: "muted", text: fmtTime(run.start) }), h("span", { class: "muted", text: "· " + fmtDuration(run.start, runEnd(run)) }),
        run.retries ? h("span", { class: "badge caught", text: run.retries + (run.retries === 1 ? " retry" : " retries") }) : null));
      if (run.scope.length) box.append(h("div", { class: "muted", text: scopeText(run) }));
      if (run.error || run.cause) box.append(h("div", { class: "banner state-error" }, h("div", {}, h("span", { text: "Error: " }), h("span", { class: "error-name", text: run.error || "" })), run.cause ? h("pre", { text: pretty(run.cause) }) : null));
      for (const stage of run.stages) {
        box.append(h("div", { class: "stage", "data-stage": stage.name },
          h("div", {}, stage.name, " ", h("span", { class: "src", text: stage.source === "computed" ? "(re-applied to the recorded input)" : "" })),
          h("pre", { text: pretty(stage.value) })));
      }
      if (run.assignedVariables) box.append(h("div", { class: "stage", "data-stage": "Variables" }, h("div", { text: "Variables assigned" }), h("pre", { text: pretty(run.assignedVariables) })));
      if (run.attempts.length > 1 || run.attempts.some((a) => a.error)) {
        box.append(h("div", { class: "stage" }, h("div", { text: "Attempts" }), h("table", { class: "attempts" },
          h("tbody", {}, run.attempts.map((a, i) => h("tr", {}, h("td", { text: "#" + (i + 1) }), h("td", { text: fmtTime(a.scheduled) }), h("td", { text: a.error ? a.error : "ok" }), h("td", { class: "mono", text: a.cause ? String(a.cause).slice(0, 300) : "" })))))));
      }
      return box;
    }

    // Loads the next page when its button scrolls into view, or is clicked.
    function moreButton(id, load) {
      const button = h("button", { id, class: "more", text: "Load more" });
      let busy = false;
      const go = async () => {
        if (busy || !button.isConnected) return;
        busy = true; button.disabled = true;
        try { await load(); } catch (e) { flash(e.message, true); } finally { busy = false; button.disabled = false; }
      };
      button.addEventListener("click", go);
      const observer = new IntersectionObserver((entries) => { if (!button.isConnected) observer.disconnect(); else if (entries.some((x) => x.isIntersecting)) go(); });
      setTimeout(() => { if (button.isConnected) observer.observe(button); }, 0);
      return button;
    }

    function tableView() {
      const filter = h("input", { type: "search", id: "table-filter", placeholder: "Filter states", value: view.tableFilter });
      const status = h("select", { id: "table-status" }, h("option", { value: "", text: "Any status" }), STATE_STATUSES.slice(1).map((st) => h("option", { value: st, text: STATE_LABEL[st] })));
      status.value = view.tableStatus;
      const tbody = h("tbody");
      const count = h("span", { class: "muted", id: "runs-count" });
      const footer = h("div", { class: "below" });
      const cols = [["name", "Name"], ["type", "Type"], ["status", "Status"], ["scope", "Iteration / branch"], ["start", "Started"], ["duration", "Duration"], ["timeline", "Timeline"]];
      // The timeline: a bar per state run from entered to exited, on the execution's own time scale.
      const t0 = new Date(data.execution.startDate).getTime();
      const t1 = Math.max(data.execution.stopDate ? new Date(data.execution.stopDate).getTime() : Date.now(), t0 + 1);
      const bar = (r) => {
        const from = new Date(r.start).getTime(), to = runEnd(r) ? new Date(runEnd(r)).getTime() : t1;
        const left = Math.max(0, Math.min(100, ((from - t0) / (t1 - t0)) * 100));
        const width = Math.max(0.4, Math.min(100 - left, ((to - from) / (t1 - t0)) * 100));
        const el = h("div", { class: "bar st-" + r.status, "data-left": left.toFixed(2), "data-width": width.toFixed(2) });
        // Through the CSSOM: the page's CSP refuses style attributes.
        el.style.left = left.toFixed(2) + "%";
        el.style.width = width.toFixed(2) + "%";
        return h("div", { class: "timeline", title: `${r.name}: +${from - t0} ms, ${fmtDuration(r.start, r.end)}` }, el);
      };
      const row = (r) => h("tr", { class: "clickable", "data-state": r.name, onclick: () => { view.selected = r.name; view.runId = r.id; view.details = null; view.tab = "graph"; render(); } },
        h("td", { text: r.name }), h("td", { text: r.type }), h("td", {}, badge(r.status)), h("td", { class: "muted", text: scopeText(r) }),
        h("td", { class: "nowrap", text: fmtTime(r.start) }), h("td", { class: "nowrap", text: fmtDuration(r.start, runEnd(r)) }), h("td", { class: "timeline-cell" }, bar(r)));
      let asked = 0;
      const fetchRows = (offset, limit) => api("GET", "execution/runs?" + withPickers({ offset, limit, status: view.tableStatus, q: view.tableFilter, sort: view.sort.key, dir: view.sort.dir > 0 ? "asc" : "desc" }));
      const show = (page, append) => {
        if (!append) clear(tbody);
        tbody.append(...page.runs.map(row));
        const shown = tbody.children.length;
        view.tableShown = Math.max(100, shown);
        count.textContent = `${shown.toLocaleString("en-US")} of ${page.total.toLocaleString("en-US")} state runs`;
        clear(footer).append(page.next !== null ? moreButton("runs-more", async () => show(await fetchRows(shown, 200), true)) : "");
      };
      const fill = async () => {
        const mine = ++asked;
        const page = await fetchRows(0, Math.min(view.tableShown, 500));
        if (mine === asked) show(page, false);
      };
      let debounce;
      filter.addEventListener("input", () => { view.tableFilter = filter.value; view.tableShown = 100; clearTimeout(debounce); debounce = setTimeout(() => fill().catch((e) => flash(e.message, true)), 200); });
      status.addEventListener("change", () => { view.tableStatus = status.value; view.tableShown = 100; fill().catch((e) => flash(e.message, true)); });
      const head = h("tr", {}, cols.map(([key, label]) => h("th", {
        class: "sortable" + (view.sort.key === key ? (view.sort.dir > 0 ? " sorted-asc" : " sorted-desc") : ""), "data-sort": key, text: label,
        onclick: () => { view.sort = { key, dir: view.sort.key === key ? -view.sort.dir : 1 }; render(); },
      })));
      fill().catch((e) => flash(e.message, true));
      return h("div", {}, h("div", { class: "row toolbar" }, filter, status, count), h("div", { class: "table-box" }, h("table", { id: "runs" }, h("thead", {}, head), tbody)), footer);
    }

    function eventRow(ev, start) {
      const failed = /(Failed|TimedOut|Aborted)$/.test(ev.type);
      const { step, resource, ...event } = ev;
      const det = h("details", { "data-event": ev.id, class: failed ? "failed" : "", open: view.openEvents.has(ev.id) },
        h("summary", {}, h("span", { class: "id", text: ev.id }), h("span", { class: "type", text: ev.type }),
          h("span", { class: "step", text: step || "" }),
          h("span", { class: "resource mono", title: resource || "", text: resource ? short(resource.split(":").slice(-2).join(":"), 40) : "" }),
          h("span", { class: "muted", text: (new Date(ev.timestamp) - start) + " ms" }),
          h("span", { class: "muted", text: fmtTime(ev.timestamp) })),
        h("pre", { text: JSON.stringify(Object.fromEntries(Object.entries(event).map(([k, v]) => [k, v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([dk, dv]) => [dk, typeof dv === "string" && /^[[{"]/.test(dv) ? (() => { try { return JSON.parse(dv); } catch { return dv; } })() : dv])) : v])), null, 2) }));
      det.addEventListener("toggle", () => { if (det.open) view.openEvents.add(ev.id); else view.openEvents.delete(ev.id); });
      return det;
    }

    function eventsView() {
      const search = h("input", { type: "search", id: "event-search", placeholder: "Search events", value: view.eventSearch, size: 40 });
      const list = h("div", { class: "events", id: "events" });
      const count = h("span", { class: "muted", id: "events-count" });
      const footer = h("div", { class: "below" });
      const start = new Date(data.execution.startDate);
      if (!view.events || view.events.query !== view.eventSearch) view.events = view.eventSearch ? null : { query: "", list: data.events.slice(), next: data.eventsNext };
      const show = () => {
        const loaded = view.events;
        clear(list).append(h("div", { class: "events-head" }, ["ID", "Type", "Step", "Resource", "Started after", "Date and time"].map((t) => h("span", { text: t }))),
          ...loaded.list.map((ev) => eventRow(ev, start)));
        const total = data.summary.events.toLocaleString("en-US");
        count.textContent = loaded.query ? `${loaded.list.length} found` + (loaded.next !== null ? " so far" : "") + ` in ${total} events` : `${loaded.list.length.toLocaleString("en-US")} of ${total} events`;
        clear(footer).append(loaded.next !== null ? moreButton("events-more", more) : "");
      };
      const fetchEvents = (after) => api("GET", "execution/events?" + q({ arn, after, limit: 200, q: view.eventSearch }));
      async function more() {
        const loaded = view.events;
        const page = await fetchEvents(loaded.next);
        if (view.events !== loaded) return;
        const known = new Set(loaded.list.map((ev) => ev.id));
        loaded.list.push(...page.events.filter((ev) => !known.has(ev.id)));
        loaded.next = page.next;
        show();
      }
      const searchFor = async (text) => {
        const page = await fetchEvents(0);
        if (view.eventSearch !== text) return;
        view.events = { query: text, list: page.events, next: page.next };
        show();
      };
      let debounce;
      search.addEventListener("input", () => {
        clearTimeout(debounce);
        debounce = setTimeout(() => {
          view.eventSearch = search.value;
          if (!view.eventSearch) { view.events = null; render(); return; }
          searchFor(view.eventSearch).catch((e) => flash(e.message, true));
        }, 250);
      });
      if (view.events) show(); else searchFor(view.eventSearch).catch((e) => flash(e.message, true));
      return h("div", {}, h("div", { class: "row toolbar" }, search, count), list, footer);
    }

    async function act(path, body, message) {
      try { await api("POST", path, body); flash(message); await refresh(true); }
      catch (e) { flash(e.message, true); }
    }
    function stop() { if (confirm("Stop this execution?")) act("stop", { executionArn: arn }, "Execution stopped"); }
    function redrive() { act("redrive", { executionArn: arn }, "Execution redriven"); }

    async function refresh(force) {
      const fresh = await api("GET", "execution?" + withPickers({}));
      const changed = force || fresh.summary.events !== data.summary.events || fresh.summary.complete !== data.summary.complete || fresh.execution.status !== data.execution.status || fresh.pendingTasks.length !== data.pendingTasks.length;
      // Events already paged in stay; the newer ones are one "Load more" away.
      if (view.events && !view.events.query && view.events.next === null && fresh.summary.events > view.events.list.length) view.events.next = view.events.list.length ? view.events.list[view.events.list.length - 1].id : 0;
      data = fresh;
      if (changed && !(document.activeElement && document.activeElement.matches && document.activeElement.matches("#tokens textarea, #tokens input, input[type=search], input[type=number], select"))) render();
      else if (changed) pendingRender = true;
      const d = document.getElementById("duration");
      if (d) d.textContent = fmtDuration(data.execution.startDate, data.execution.stopDate);
    }
    let pendingRender = false;
    document.addEventListener("focusout", () => { if (pendingRender) { pendingRender = false; setTimeout(render, 0); } });

    const definitionIndex = indexStates(definition);
    render();
    // A running execution, or a long history still being read, is asked again.
    const poll = async () => {
      if (!document.hidden && (data.execution.status === "RUNNING" || !data.summary.complete || pendingRender)) await refresh(false).catch(() => {});
      setTimeout(poll, data.summary.complete ? 1500 : 250);
    };
    setTimeout(poll, data.summary.complete ? 1500 : 250);
  }

  function indexStates(definition) {
    const out = {};
    const walk = (states) => {
      if (!states || typeof states !== "object") return;
      for (const [name, spec] of Object.entries(states)) {
        if (!spec || typeof spec !== "object") continue;
        out[name] = { type: spec.Type };
        const proc = spec.ItemProcessor || spec.Iterator;
        if (proc) walk(proc.States);
        (spec.Branches || []).forEach((b) => walk(b && b.States));
      }
    };
    walk(definition && definition.States);
    return out;
  }

  // -- routing --------------------------------------------------------------------------------------
  // Pages in other files (editor.js) register themselves in WF.pages; deferred scripts all run
  // before DOMContentLoaded, so routing waits for it.
  const pages = { "": machinesPage, machine: machinePage, execution: executionPage };
  window.WF = { app, pages, h, s, clear, api, crumbs, q, machineUrl, executionUrl, cookie, drawGraph, legend };
  document.addEventListener("DOMContentLoaded", () => {
    const page = location.pathname.replace(/\/+$/, "").split("/")[2] || "";
    const arn = new URLSearchParams(location.search).get("arn") || "";
    (pages[page] || machinesPage)(arn).catch((e) => {
      clear(app).append(h("div", { class: "banner" }, h("span", { class: "error-name", text: "Could not load this page: " }), h("span", { text: e.message })));
    });
  });
})();
