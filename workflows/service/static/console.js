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
  async function machinePage(arn) {
    const [machine, config] = await Promise.all([api("GET", "state-machine?" + q({ arn })), api("GET", "config")]);
    crumbs({ text: "State machines", href: "/console" }, { text: machine.name });
    const state = { status: "", search: "", offset: 0, size: 25, live: true };
    const countsBox = h("div", { class: "counts", id: "counts" });
    const statusSelect = h("select", { id: "status-filter" }, h("option", { value: "", text: "Any status" }),
      STATUSES.map((st) => h("option", { value: st, text: st })));
    const search = h("input", { type: "search", id: "name-search", placeholder: "Search by name", size: 30 });
    const live = h("input", { type: "checkbox", id: "live", checked: true });
    const tbody = h("tbody");
    const pager = h("span", { class: "muted", id: "pager" });
    const prev = h("button", { id: "prev", text: "‹ Previous" });
    const next = h("button", { id: "next", text: "Next ›" });
    const upload = config.uploads ? uploadBox(config.uploads, () => load()) : null;

    async function load() {
      const data = await api("GET", "executions?" + q({ stateMachineArn: arn, status: state.status, q: state.search, offset: state.offset, maxResults: state.size }));
      clear(countsBox).append(
        h("button", { class: state.status === "" ? "active" : "", "data-status": "", onclick: () => setStatus("") }, "All", h("b", { text: data.all })),
        ...STATUSES.filter((st) => data.counts[st] || st === "RUNNING" || st === "SUCCEEDED" || st === "FAILED").map((st) =>
          h("button", { class: state.status === st ? "active" : "", "data-status": st, onclick: () => setStatus(st) }, badge(st), h("b", { text: data.counts[st] || 0 }))));
      clear(tbody).append(...data.executions.map((e) => h("tr", { class: "clickable", "data-arn": e.executionArn, onclick: () => { location.href = executionUrl(e.executionArn); } },
        h("td", {}, h("a", { href: executionUrl(e.executionArn), class: "exec-link", text: e.name })),
        h("td", {}, badge(e.status)),
        h("td", { text: fmtTime(e.startDate) }),
        h("td", { text: fmtTime(e.stopDate) }),
        h("td", { text: fmtDuration(e.startDate, e.stopDate) }))));
      if (!data.executions.length) tbody.append(h("tr", {}, h("td", { colspan: 5, class: "muted", text: "No executions match." })));
      pager.textContent = data.total ? `${data.offset + 1}–${data.offset + data.executions.length} of ${data.total}` : "0 of 0";
      prev.disabled = data.offset === 0;
      next.disabled = data.next === null;
    }
    function setStatus(st) { state.status = st; statusSelect.value = st; state.offset = 0; load(); }
    statusSelect.addEventListener("change", () => setStatus(statusSelect.value));
    let debounce;
    search.addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(() => { state.search = search.value.trim(); state.offset = 0; load(); }, 250); });
    prev.addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.size); load(); });
    next.addEventListener("click", () => { state.offset += state.size; load(); });
    live.addEventListener("change", () => { state.live = live.checked; });
    every(2000, () => { if (state.live && !document.hidden) load().catch(() => {}); });

    clear(app).append(
      h("div", { class: "row" }, h("h1", { text: machine.name }), h("span", { class: "spacer" }),
        h("a", { class: "button", href: editorUrl(arn), id: "edit-definition", text: "Edit definition" }),
        h("button", { class: "primary", id: "start-execution", text: "Start execution", onclick: () => startDialog(arn) })),
      h("div", { class: "panel summary" },
        h("div", {}, h("span", { text: "ARN" }), h("b", { class: "mono", text: arn })),
        h("div", {}, h("span", { text: "Type" }), h("b", { text: machine.type })),
        h("div", {}, h("span", { text: "Revision" }), h("b", { class: "mono", text: machine.revisionId || "initial" })),
        machine.source ? h("div", {}, h("span", { text: "Source file" }), h("b", { class: "mono", text: machine.source })) : null),
      ...(upload ? [upload] : []),
      h("div", { class: "panel" },
        h("div", { class: "row" }, h("h2", { text: "Executions" }), h("span", { class: "spacer" }),
          h("label", {}, live, " Live refresh")),
        countsBox,
        h("div", { class: "row toolbar" }, statusSelect, search, h("span", { class: "spacer" }), pager, prev, next),
        h("table", { id: "executions" },
          h("thead", {}, h("tr", {}, ["Name", "Status", "Started", "Ended", "Duration"].map((t) => h("th", { text: t })))),
          tbody)));
    await load();
  }

  function uploadBox(uploads, after) {
    const file = h("input", { type: "file", id: "upload-file", multiple: true });
    const result = h("span", { id: "upload-result", class: "muted" });
    const button = h("button", { id: "upload-submit", text: "Upload" });
    button.addEventListener("click", async () => {
      if (!file.files.length) { result.textContent = "Choose a file first."; return; }
      button.disabled = true;
      try {
        const done = [];
        for (const f of file.files) {
          const out = await api("PUT", "uploads?" + q({ name: f.name }), undefined, f);
          done.push(`s3://${out.bucket}/${out.key}`);
        }
        result.textContent = "Uploaded " + done.join(", ");
        file.value = "";
        setTimeout(after, 500);
      } catch (e) { result.textContent = e.message; }
      button.disabled = false;
    });
    return h("div", { class: "panel", id: "upload" },
      h("h2", { text: "Upload to start executions" }),
      h("div", { class: "row" }, h("span", { class: "muted" }, "Files go to ", h("code", { text: "s3://" + uploads.bucket + "/" })), file, button, result));
  }

  // -- the definition graph (dagre compound layout) -------------------------------------------------
  function measure(text, size) { return Math.max(40, text.length * size * 0.6); }

  function buildGraph(definition) {
    const g = new dagre.graphlib.Graph({ compound: true, multigraph: true });
    g.setGraph({ rankdir: "TB", nodesep: 26, ranksep: 34, marginx: 16, marginy: 16 });
    g.setDefaultEdgeLabel(() => ({}));
    const info = {};
    let edgeCount = 0;
    const edge = (from, to, label, kind) => { g.setEdge(from, to, { label: label || "", kind: kind || "", width: label ? measure(label, 10) : 0, height: label ? 14 : 0, labelpos: "c" }, "e" + edgeCount++); };
    g.setNode("__start", { kind: "terminal", label: "Start", width: 64, height: 28 });
    g.setNode("__end", { kind: "terminal", label: "End", width: 64, height: 28 });

    function scope(states, startAt, cluster, entry, exit) {
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
            scope(proc.States, proc.StartAt, c, id, join);
          } else {
            (spec.Branches || []).forEach((branch, i) => {
              const b = "b:" + name + ":" + i;
              g.setNode(b, { kind: "cluster", label: "Branch " + (i + 1) });
              g.setParent(b, c);
              scope(branch && branch.States, branch && branch.StartAt, b, id, join);
            });
          }
        } else if (cluster) {
          g.setParent(id, cluster);
        }
        info[name].out = out;
      }
      if (startAt && states[startAt]) edge(entry, "n:" + startAt);
      for (const [name, spec] of Object.entries(states)) {
        if (!spec || typeof spec !== "object" || !info[name]) continue;
        const from = info[name].out;
        const to = (target) => (states[target] ? "n:" + target : null);
        if (spec.Type === "Choice") {
          (spec.Choices || []).forEach((c, i) => { if (c && to(c.Next)) edge(from, to(c.Next), "Rule " + (i + 1)); });
          if (to(spec.Default)) edge(from, to(spec.Default), "Default");
        } else if (spec.Next && to(spec.Next)) edge(from, to(spec.Next));
        if (spec.End === true || spec.Type === "Succeed" || spec.Type === "Fail") edge(from, exit);
        (spec.Catch || []).forEach((c) => { if (c && to(c.Next)) edge(from, to(c.Next), "Catch", "catch"); });
      }
    }
    scope(definition && definition.States, definition && definition.StartAt, null, "__start", "__end");
    dagre.layout(g);
    return { g, info };
  }

  function drawGraph(definition, statusOf, onSelect, selected) {
    const { g } = buildGraph(definition);
    const graph = g.graph();
    const svgEl = s("svg", { class: "graph", id: "graph", width: Math.ceil(graph.width || 200), height: Math.ceil(graph.height || 100), role: "img", "aria-label": "state machine graph" });
    svgEl.append(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, s("path", { d: "M0,0 L10,5 L0,10 z", fill: "#7d8998" }))));
    const clusters = s("g"), edges = s("g"), nodes = s("g");
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
      const group = s("g", { class: "edge" + (d.kind ? " " + d.kind : "") }, s("path", { d: path, "marker-end": "url(#arrow)" }));
      if (d.label) group.append(s("text", { x: d.x, y: d.y + 4, "text-anchor": "middle", text: d.label }));
      edges.append(group);
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
        const group = s("g", { class: `node st-${status}${selected === n.name ? " selected" : ""}`, "data-state": n.name, "data-status": status, tabindex: 0 },
          s("title", { text: `${n.name} (${n.type}) — ${STATE_LABEL[status]}` }),
          s("rect", { x: n.x - n.width / 2, y: n.y - n.height / 2, width: n.width, height: n.height, rx: 6 }),
          s("text", { x: n.x, y: n.y - 2, "text-anchor": "middle", text: n.name }),
          s("text", { class: "type", x: n.x, y: n.y + 13, "text-anchor": "middle", text: n.type }));
        if (onSelect) {
          group.addEventListener("click", () => onSelect(n.name));
          group.addEventListener("keydown", (ev) => { if (ev.key === "Enter") onSelect(n.name); });
        }
        nodes.append(group);
      }
    }
    svgEl.append(clusters, edges, nodes);
    return svgEl;
  }

  function legend() {
    return h("div", { class: "legend" }, STATE_STATUSES.map((st) => badge(st)));
  }

  // -- page: one execution --------------------------------------------------------------------------
  const PRIORITY = { failed: 5, running: 4, caught: 3, cancelled: 2, succeeded: 1, notrun: 0 };
  const worst = (statuses) => statuses.reduce((a, b) => (PRIORITY[b] > PRIORITY[a] ? b : a), "notrun");

  async function executionPage(arn) {
    const view = { tab: "graph", selected: null, runIndex: null, pickers: {}, tableFilter: "", tableStatus: "", sort: { key: "id", dir: 1 }, eventSearch: "", tokenValues: {}, openEvents: new Set() };
    let data = await api("GET", "execution?" + q({ arn }));
    let definition = {};
    try { definition = JSON.parse(data.stateMachine.definition); } catch { definition = {}; }
    const smArn = data.execution.stateMachineArn || smArnOf(arn);
    crumbs({ text: "State machines", href: "/console" }, { text: data.stateMachine.name, href: machineUrl(smArn) }, { text: data.execution.name });

    function visible(run) {
      return run.scope.every(([container, key]) => {
        const pick = view.pickers[container];
        return pick === undefined || pick === "all" || String(key) === String(pick);
      });
    }
    // The latest run in each thread (a loop or a redrive runs a state again), the worst across threads.
    function statusOf(name) {
      const latest = {};
      for (const r of data.runs) if (r.name === name && visible(r)) latest[JSON.stringify(r.scope)] = r.status;
      return worst(Object.values(latest));
    }

    function render() {
      const e = data.execution;
      const actions = h("div", { class: "row" },
        e.status === "RUNNING" ? h("button", { class: "danger", id: "stop", text: "Stop execution", onclick: stop }) : null,
        e.redriveStatus === "REDRIVABLE" ? h("button", { id: "redrive", text: "Redrive", onclick: redrive }) : null,
        h("button", { id: "new-execution", text: "New execution", onclick: () => startDialog(smArn, pretty(e.input)) }),
        h("a", { class: "button", href: editorUrl(smArn), text: "Edit definition" }));
      const banner = e.error || e.cause ? h("div", { class: "banner", id: "error-banner" },
        h("div", {}, h("span", { text: "Error: " }), h("span", { class: "error-name", text: e.error || "(none)" })),
        e.cause ? h("pre", { class: "cause", text: pretty(e.cause) }) : null) : null;
      const summary = h("div", { class: "panel summary", id: "summary" },
        h("div", {}, h("span", { text: "Status" }), h("b", {}, badge(e.status))),
        h("div", {}, h("span", { text: "Started" }), h("b", { text: fmtTime(e.startDate) })),
        h("div", {}, h("span", { text: "Ended" }), h("b", { text: fmtTime(e.stopDate) })),
        h("div", {}, h("span", { text: "Duration" }), h("b", { id: "duration", text: fmtDuration(e.startDate, e.stopDate) })),
        h("div", {}, h("span", { text: "State transitions" }), h("b", { id: "transitions", text: data.transitions })),
        h("div", {}, h("span", { text: "Redrives" }), h("b", { text: e.redriveCount || 0 })),
        h("div", {}, h("span", { text: "Execution ARN" }), h("b", { class: "mono", text: e.executionArn })),
        h("div", {}, h("span", { text: "Revision" }), h("b", { class: "mono", text: data.stateMachine.revisionId || "initial" })));
      const io = h("div", { class: "io" },
        h("div", { class: "panel" }, h("h2", { text: "Input" }), h("pre", { id: "exec-input", text: pretty(e.input) })),
        h("div", { class: "panel" }, h("h2", { text: "Output" }), h("pre", { id: "exec-output", text: e.output !== undefined ? pretty(e.output) : e.status === "RUNNING" ? "(running)" : "(none)" })));
      const tabs = h("div", { class: "tabs" }, [["graph", "Graph view"], ["table", "Table view"], ["events", "Events"]].map(([key, label]) =>
        h("button", { class: view.tab === key ? "active" : "", id: "tab-" + key, text: label, onclick: () => { view.tab = key; render(); } })));
      const body = view.tab === "graph" ? graphView() : view.tab === "table" ? tableView() : eventsView();
      const scrollY = window.scrollY;
      clear(app).append(
        h("div", { class: "row" }, h("h1", { id: "exec-name", text: e.name }), badge(e.status), h("span", { class: "spacer" }), actions),
        ...[banner, summary, tokensPanel(), io].filter(Boolean),
        h("div", { class: "panel" }, tabs, body));
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

    function mapPickers() {
      const maps = {};
      for (const run of data.runs) for (const [container, key] of run.scope) {
        if ((definitionIndex[container] || {}).type !== "Map") continue;
        (maps[container] = maps[container] || {})[key] = (maps[container][key] || []).concat(run.status);
      }
      const names = Object.keys(maps);
      if (!names.length) return null;
      return h("div", { class: "pickers" }, names.map((name) => {
        const select = h("select", { class: "iteration-picker", "data-map": name },
          h("option", { value: "all", text: `All iterations (${Object.keys(maps[name]).length})` }),
          Object.keys(maps[name]).sort((a, b) => a - b).map((k) => h("option", { value: k, text: `Iteration #${k} — ${STATE_LABEL[worst(maps[name][k])]}` })));
        select.value = view.pickers[name] ?? "all";
        select.addEventListener("change", () => { view.pickers[name] = select.value; view.runIndex = null; render(); });
        return h("label", {}, h("span", { class: "muted", text: `Map ${name}: ` }), select);
      }));
    }

    function graphView() {
      const select = (name) => { view.selected = name; view.runIndex = null; render(); };
      return h("div", {}, mapPickers(), h("div", { class: "graph-layout" },
        h("div", {}, h("div", { class: "graph-box" }, drawGraph(definition, statusOf, select, view.selected)), legend()),
        detailsPanel()));
    }

    function detailsPanel() {
      const panel = h("div", { class: "panel details", id: "details" });
      if (view.selected === null) { panel.append(h("p", { class: "muted", text: "Select a state to see its input, output and each processing step." })); return panel; }
      const runs = data.runs.filter((r) => r.name === view.selected && visible(r));
      const type = (definitionIndex[view.selected] || {}).type || "";
      panel.append(h("h3", { id: "details-name", text: view.selected }), h("div", { class: "muted", text: type }));
      if (!runs.length) { panel.append(h("p", {}, badge("notrun"), " This state has not run", Object.keys(view.pickers).length ? " in the selected iteration." : ".")); return panel; }
      const index = view.runIndex === null ? runs.length - 1 : Math.min(view.runIndex, runs.length - 1);
      const run = runs[index];
      if (runs.length > 1) {
        panel.append(h("div", { class: "row" }, h("span", { class: "muted", text: "Run" }),
          runs.map((r, i) => h("button", { class: i === index ? "primary" : "", text: String(i + 1) + (r.scope.length ? " " + scopeText(r) : ""), onclick: () => { view.runIndex = i; render(); } }))));
      }
      panel.append(runDetails(run));
      return panel;
    }

    function scopeText(run) { return run.scope.map(([c, k]) => ((definitionIndex[c] || {}).type === "Map" ? `${c}[${k}]` : `${c}/branch ${Number(k) + 1}`)).join(" › "); }

    function runDetails(run) {
      const box = h("div", { class: "run", "data-run": run.id });
      box.append(h("div", { class: "row" }, badge(run.status), h("span", { class: "muted", text: fmtTime(run.start) }), h("span", { class: "muted", text: "· " + fmtDuration(run.start, run.end) }),
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

    function tableView() {
      const filter = h("input", { type: "search", id: "table-filter", placeholder: "Filter states", value: view.tableFilter });
      const status = h("select", { id: "table-status" }, h("option", { value: "", text: "Any status" }), STATE_STATUSES.slice(1).map((st) => h("option", { value: st, text: STATE_LABEL[st] })));
      status.value = view.tableStatus;
      const tbody = h("tbody");
      const cols = [["name", "Name"], ["type", "Type"], ["status", "Status"], ["scope", "Iteration / branch"], ["start", "Started"], ["duration", "Duration"]];
      const value = (run, key) => key === "duration" ? (run.end ? new Date(run.end) - new Date(run.start) : Infinity) : key === "scope" ? scopeText(run) : key === "start" ? run.start : run[key];
      const fill = () => {
        const text = view.tableFilter.toLowerCase();
        let rows = data.runs.filter((r) => (!view.tableStatus || r.status === view.tableStatus) && (!text || [r.name, r.type, r.status, scopeText(r)].join(" ").toLowerCase().includes(text)));
        const { key, dir } = view.sort;
        rows = rows.slice().sort((a, b) => { const x = value(a, key), y = value(b, key); return (x < y ? -1 : x > y ? 1 : a.id - b.id) * dir; });
        clear(tbody).append(...rows.map((r) => h("tr", { class: "clickable", "data-state": r.name, onclick: () => { view.selected = r.name; view.tab = "graph"; render(); } },
          h("td", { text: r.name }), h("td", { text: r.type }), h("td", {}, badge(r.status)), h("td", { class: "muted", text: scopeText(r) }),
          h("td", { text: fmtTime(r.start) }), h("td", { text: fmtDuration(r.start, r.end) }))));
      };
      filter.addEventListener("input", () => { view.tableFilter = filter.value; fill(); });
      status.addEventListener("change", () => { view.tableStatus = status.value; fill(); });
      const head = h("tr", {}, cols.map(([key, label]) => h("th", {
        class: "sortable" + (view.sort.key === key ? (view.sort.dir > 0 ? " sorted-asc" : " sorted-desc") : ""), "data-sort": key, text: label,
        onclick: () => { view.sort = { key, dir: view.sort.key === key ? -view.sort.dir : 1 }; render(); },
      })));
      fill();
      return h("div", {}, h("div", { class: "row toolbar" }, filter, status), h("table", { id: "runs" }, h("thead", {}, head), tbody));
    }

    function eventsView() {
      const search = h("input", { type: "search", id: "event-search", placeholder: "Search events", value: view.eventSearch, size: 40 });
      const list = h("div", { class: "events", id: "events" });
      const start = data.events.length ? new Date(data.events[0].timestamp) : null;
      const fill = () => {
        const text = view.eventSearch.toLowerCase();
        clear(list).append(...data.events.filter((ev) => !text || JSON.stringify(ev).toLowerCase().includes(text)).map((ev) => {
          const det = h("details", { "data-event": ev.id, open: view.openEvents.has(ev.id) },
            h("summary", {}, h("span", { class: "id", text: ev.id }), h("span", { class: "type", text: ev.type }),
              h("span", { class: "muted", text: fmtTime(ev.timestamp) }), h("span", { class: "muted", text: "+" + (new Date(ev.timestamp) - start) + " ms" })),
            h("pre", { text: JSON.stringify(Object.fromEntries(Object.entries(ev).map(([k, v]) => [k, v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([dk, dv]) => [dk, typeof dv === "string" && /^[[{"]/.test(dv) ? (() => { try { return JSON.parse(dv); } catch { return dv; } })() : dv])) : v])), null, 2) }));
          det.addEventListener("toggle", () => { if (det.open) view.openEvents.add(ev.id); else view.openEvents.delete(ev.id); });
          return det;
        }));
      };
      search.addEventListener("input", () => { view.eventSearch = search.value; fill(); });
      fill();
      return h("div", {}, h("div", { class: "row toolbar" }, search, h("span", { class: "muted", text: data.events.length + " events" })), list);
    }

    async function act(path, body, message) {
      try { await api("POST", path, body); flash(message); await refresh(true); }
      catch (e) { flash(e.message, true); }
    }
    function stop() { if (confirm("Stop this execution?")) act("stop", { executionArn: arn }, "Execution stopped"); }
    function redrive() { act("redrive", { executionArn: arn }, "Execution redriven"); }

    async function refresh(force) {
      const fresh = await api("GET", "execution?" + q({ arn }));
      const changed = force || fresh.events.length !== data.events.length || fresh.execution.status !== data.execution.status || fresh.pendingTasks.length !== data.pendingTasks.length;
      data = fresh;
      if (changed && !(document.activeElement && document.activeElement.matches && document.activeElement.matches("#tokens textarea, #tokens input, input[type=search]"))) render();
      else if (changed) pendingRender = true;
      const d = document.getElementById("duration");
      if (d) d.textContent = fmtDuration(data.execution.startDate, data.execution.stopDate);
    }
    let pendingRender = false;
    document.addEventListener("focusout", () => { if (pendingRender) { pendingRender = false; setTimeout(render, 0); } });

    const definitionIndex = indexStates(definition);
    render();
    every(1500, () => { if (!document.hidden && (data.execution.status === "RUNNING" || pendingRender)) refresh(false).catch(() => {}); });
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
