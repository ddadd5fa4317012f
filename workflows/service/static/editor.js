// The console's definition editor page: CodeMirror 6 (window.CM, vendored) with the service's own
// validation as squiggles, autocomplete from the definition and the template, a graph preview that
// follows the cursor, TestState and replay panels. Same rules as console.js: user values reach the
// page only through textContent or setAttribute. It uses console.js's helpers through window.WF.
"use strict";
(() => {
  const { app, h, clear, api, crumbs, q, machineUrl, executionUrl, cookie, drawGraph } = window.WF;

  // -- JSON tree helpers (CodeMirror's Lezer JSON tree) ---------------------------------------------
  const nodeText = (state, node) => state.doc.sliceString(node.from, node.to);
  function unquote(text) { try { return JSON.parse(text); } catch { return text.replace(/^"|"$/g, ""); } }
  // The key of a Property node.
  function propName(state, prop) {
    const key = prop && prop.getChild("PropertyName");
    return key ? unquote(nodeText(state, key)) : null;
  }
  // The Property an Object is the value of (or null at the top).
  const ownerProp = (obj) => (obj && obj.parent && obj.parent.name === "Property" ? obj.parent : null);
  // A Property is a state when it sits in an object that is the value of "States".
  function isStateProp(state, prop) {
    if (!prop || prop.name !== "Property") return false;
    const obj = prop.parent;
    return !!obj && obj.name === "Object" && propName(state, ownerProp(obj)) === "States";
  }
  // The innermost state whose text holds `pos`.
  function stateAt(state, pos) {
    for (let node = CM.syntaxTree(state).resolveInner(pos, 0); node; node = node.parent) {
      if (isStateProp(state, node)) return propName(state, node);
    }
    return null;
  }
  function stateKeyPos(state, name) {
    let found = null;
    CM.syntaxTree(state).iterate({
      enter(node) {
        if (found !== null) return false;
        if (node.name === "Property" && isStateProp(state, node.node) && propName(state, node.node) === name) {
          found = node.node.getChild("PropertyName").from;
          return false;
        }
        return undefined;
      },
    });
    return found;
  }
  function fieldValue(state, obj, field) {
    for (const prop of obj.getChildren("Property")) {
      if (propName(state, prop) === field) {
        const value = prop.lastChild;
        return value && value.name === "String" ? unquote(nodeText(state, value)) : null;
      }
    }
    return null;
  }

  // Names in a parsed definition: every state (all scopes) and every variable an Assign sets.
  function collectNames(def) {
    const states = new Set(), variables = new Set(), types = {};
    const walk = (scope) => {
      if (!scope || typeof scope !== "object" || !scope.States || typeof scope.States !== "object") return;
      for (const [name, spec] of Object.entries(scope.States)) {
        states.add(name);
        if (!spec || typeof spec !== "object") continue;
        types[name] = spec.Type;
        const assigns = [spec.Assign, ...(spec.Catch || []).map((c) => c && c.Assign), ...(spec.Choices || []).map((c) => c && c.Assign)];
        for (const a of assigns) if (a && typeof a === "object") Object.keys(a).forEach((k) => variables.add(k.replace(/\.\$$/, "")));
        walk(spec.ItemProcessor || spec.Iterator);
        (spec.Branches || []).forEach(walk);
      }
    };
    walk(def);
    return { states: [...states], variables: [...variables], types };
  }

  const JSONATA_FUNCTIONS = ["$merge", "$string", "$number", "$length", "$substring", "$uppercase", "$lowercase", "$split", "$join",
    "$count", "$sum", "$max", "$min", "$exists", "$keys", "$lookup", "$map", "$filter", "$reduce", "$now", "$millis",
    "$partition", "$range", "$hash", "$random", "$uuid", "$parse"];
  const STATES_VARS = ["$states", "$states.input", "$states.result", "$states.errorOutput", "$states.context",
    "$states.context.Execution.Id", "$states.context.Execution.Input", "$states.context.State.Name", "$states.context.Task.Token"];

  // -- page: definition editor ----------------------------------------------------------------------
  async function editorPage(arn) {
    const [machine, schema, config] = await Promise.all([
      api("GET", "state-machine?" + q({ arn })),
      api("GET", "editor-schema"),
      api("GET", "config"),
    ]);
    crumbs({ text: "State machines", href: "/console" }, { text: machine.name, href: machineUrl(arn) }, { text: "Edit definition" });
    let text = machine.sourceText || machine.definition;
    if (!machine.sourceText) { try { text = JSON.stringify(JSON.parse(text), null, 2); } catch { /* keep the text as stored */ } }
    // What a save is checked against: the revision and file this editor loaded.
    const base = { revisionId: machine.revisionId || null, hash: machine.sourceHash };
    let lastGood = null;
    try { lastGood = JSON.parse(text); } catch { /* an invalid file: the preview waits for valid JSON */ }
    let names = collectNames(lastGood);
    let cursorState = null;

    const diagnostics = h("ul", { class: "diagnostics", id: "diagnostics" });
    const status = h("b", { id: "validation-status" });
    const preview = h("div", { class: "graph-box", id: "preview" });
    const saveResult = h("span", { id: "save-result", class: "muted" });
    const save = h("button", { class: "primary", id: "save", text: "Save" });
    const format = h("button", { id: "format", text: "Format", title: "Re-indent as JSON (2 spaces)" });
    const find = h("button", { id: "find", text: "Find", title: "Find and replace (Ctrl-F)" });
    const revision = h("b", { class: "mono", id: "revision", text: machine.revisionId || "initial" });
    const banner = h("div", { class: "source-banner", id: "source-banner", hidden: true });
    const conflict = h("div", { class: "panel conflict", id: "conflict", hidden: true });
    const cursorLabel = h("span", { class: "muted", id: "cursor-state" });
    const host = h("div", { class: "cm-host", id: "definition" });

    // -- completion ---------------------------------------------------------------------------------
    function complete(context) {
      const { state, pos } = context;
      const line = state.doc.lineAt(pos);
      const before = line.text.slice(0, pos - line.from);
      const open = /"((?:[^"\\]|\\.)*)$/.exec(before);
      if (!open) return null;
      const start = line.from + open.index + 1;
      const typed = open[1];
      // Inside a JSONata expression or a ${...} placeholder: names, not JSON structure.
      const jsonata = /\{%((?:(?!%\}).)*)$/.exec(typed);
      if (jsonata) {
        const word = /\$[\w.]*$/.exec(typed);
        if (!word && !context.explicit) return null;
        const vars = names.variables.map((v) => ({ label: "$" + v, type: "variable" }));
        return { from: word ? start + word.index : pos, options: [...STATES_VARS.map((label) => ({ label, type: "variable" })), ...vars,
          ...JSONATA_FUNCTIONS.map((label) => ({ label, type: "function" }))], validFor: /^\$[\w.]*$/ };
      }
      const placeholder = /\$\{(\w*)$/.exec(typed);
      if (placeholder) {
        return { from: start + placeholder.index, options: (config.substitutions || []).map((n) => ({ label: "${" + n + "}", type: "constant" })), validFor: /^\$\{\w*\}?$/ };
      }
      // Key or value? Look back past the opening quote for ':' (value) or '{' / ',' (key).
      let i = start - 2;
      while (i >= 0 && /\s/.test(state.doc.sliceString(i, i + 1))) i--;
      const mark = state.doc.sliceString(i, i + 1);
      if (mark === ":") {
        const keyText = state.doc.sliceString(Math.max(0, i - 200), i);
        const key = /"((?:[^"\\]|\\.)*)"\s*$/.exec(keyText);
        const field = key ? key[1] : "";
        let options = [];
        if (field === "Next" || field === "Default" || field === "StartAt") options = names.states.map((label) => ({ label, type: "class", detail: "state" }));
        else if (field === "Type") options = schema.stateTypes.map((label) => ({ label, type: "keyword" }));
        else if (field === "Resource") options = [...(config.resources || []), ...(config.substitutions || []).filter((n) => /Arn$/.test(n)).map((n) => "${" + n + "}")].map((label) => ({ label, type: "constant" }));
        else if (field === "QueryLanguage") options = ["JSONPath", "JSONata"].map((label) => ({ label, type: "keyword" }));
        if (!options.length) return null;
        return { from: start, options, validFor: /^[^"]*$/ };
      }
      if (mark === "{" || mark === ",") {
        const node = CM.syntaxTree(state).resolveInner(start - 1, -1);
        let obj = node;
        while (obj && obj.name !== "Object") obj = obj.parent;
        if (!obj) return null;
        const owner = ownerProp(obj);
        let fields;
        if (!owner) fields = schema.topFields;
        else if (isStateProp(state, owner)) {
          const type = fieldValue(state, obj, "Type");
          fields = type && schema.stateFields[type] ? schema.stateFields[type] : ["Type", "Comment"];
          // Only the fields of the state's query language (its own, else the machine's).
          const top = CM.syntaxTree(state).topNode.getChild("Object");
          const language = fieldValue(state, obj, "QueryLanguage") || (top && fieldValue(state, top, "QueryLanguage")) || "JSONPath";
          const other = new Set(language === "JSONata" ? schema.jsonpathOnly : schema.jsonataOnly);
          fields = fields.filter((f) => !other.has(f));
        } else if (["ItemProcessor", "Iterator"].includes(propName(state, owner)) || (owner.parent && owner.parent.name === "Array" && propName(state, ownerProp(owner.parent)) === "Branches")) fields = ["StartAt", "States", "Comment", "ProcessorConfig"];
        else return null;
        const present = new Set(obj.getChildren("Property").map((p) => propName(state, p)));
        return { from: start, options: fields.filter((f) => !present.has(f) || f.startsWith(typed)).map((label) => ({ label, type: "property" })), validFor: /^\w*$/ };
      }
      return null;
    }

    // -- the editor ---------------------------------------------------------------------------------
    let timer = null;
    // In a shadow root: CodeMirror then styles itself with constructed style sheets, which the page's
    // Content-Security-Policy (style-src 'self') allows; on the document it would add <style> tags.
    const shadow = host.attachShadow({ mode: "open" });
    const mount = document.createElement("div");
    shadow.append(mount);
    const view = new CM.EditorView({
      root: shadow,
      parent: mount,
      state: CM.EditorState.create({
        doc: text,
        extensions: [
          CM.basicSetup,
          CM.keymap.of([CM.indentWithTab]),
          CM.json(),
          CM.lintGutter(),
          CM.autocompletion({ override: [complete], activateOnTyping: true }),
          CM.neutralTheme(false),
          CM.EditorView.theme({ "&": { height: "var(--editor-height, 620px)", fontSize: "12.5px" }, "&.cm-focused": { outline: "none" }, ".cm-scroller": { lineHeight: "18px" } }),
          CM.EditorView.updateListener.of((update) => {
            if (update.docChanged) {
              clearTimeout(timer);
              timer = setTimeout(validate, 300);
              if (!formWriting) formFor = undefined; // the form shows the text's new values when next drawn
            }
            if (update.docChanged || update.selectionSet) followCursor();
          }),
        ],
      }),
    });
    window.WF.editor = { view };
    const doc = () => view.state.doc.toString();
    function offset(line, column) {
      const d = view.state.doc;
      if (!line || line < 1 || line > d.lines) return null;
      const l = d.line(line);
      return Math.min(l.to, l.from + Math.max(0, (column || 1) - 1));
    }
    function goTo(pos, end) {
      view.dispatch({ selection: CM.EditorSelection.single(pos, end === undefined ? pos : end), effects: CM.EditorView.scrollIntoView(pos, { y: "center" }) });
      view.focus();
    }
    function setText(newText) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: newText } });
    }

    // -- graph preview that follows the cursor -----------------------------------------------------
    // CodeMirror parses a long text in the background: a click just after opening can name a state
    // the syntax tree has not reached yet, so the click waits for it (a second at most) instead of
    // being lost.
    function onNode(name, tries = 20) {
      const pos = stateKeyPos(view.state, name);
      if (pos !== null) goTo(pos + 1);
      else if (tries > 0) setTimeout(() => onNode(name, tries - 1), 50);
    }
    // Scroll the preview (not the page) so the state under the cursor is in sight.
    function revealNode(name) {
      const node = name && preview.querySelector(`.node[data-state="${CSS.escape(name)}"] rect`);
      if (!node) return;
      const box = node.getBBox();
      const { scrollLeft: x, scrollTop: y, clientWidth: w, clientHeight: hgt } = preview;
      if (box.x < x || box.x + box.width > x + w) preview.scrollLeft = Math.max(0, box.x + box.width / 2 - w / 2);
      if (box.y < y || box.y + box.height > y + hgt) preview.scrollTop = Math.max(0, box.y + box.height / 2 - hgt / 2);
    }
    let drawn = null;
    function drawPreview() {
      if (!lastGood) return;
      const key = JSON.stringify(lastGood);
      if (key === drawn) return; // layout is the costly part: only when the definition changed
      drawn = key;
      clear(preview).append(drawGraph(lastGood, null, onNode, cursorState));
    }
    function followCursor() {
      const now = stateAt(view.state, view.state.selection.main.head);
      cursorLabel.textContent = now ? "Cursor in state " + now : "";
      if (now === cursorState) { renderForm(false); return; }
      cursorState = now;
      for (const node of preview.querySelectorAll(".node")) node.classList.toggle("selected", node.getAttribute("data-state") === now);
      revealNode(now);
      if (now && testPick.querySelector(`option[value="${CSS.escape(now)}"]`) && !testPicked) { testPick.value = now; showMockControls(); }
      renderForm(false);
    }

    // -- validation ---------------------------------------------------------------------------------
    let seq = 0;
    async function validate() {
      const mine = ++seq;
      const value = doc();
      let result;
      try { result = await api("POST", "validate", { definition: value, type: machine.type }); }
      catch (e) { status.textContent = e.message; return; }
      if (mine !== seq || value !== doc()) return;
      const all = result.diagnostics;
      const primary = all.filter((d) => d.causedBy === undefined);
      const marks = [];
      clear(diagnostics);
      for (const d of primary) {
        const from = offset(d.line, d.column);
        let to = offset(d.endLine, d.endColumn);
        if (from !== null) {
          if (to === null || to <= from) to = Math.min(view.state.doc.length, from + 1);
          marks.push({ from, to, severity: d.severity === "ERROR" ? "error" : "warning", message: d.summary || `${d.code}: ${d.message}` });
        }
        const where = (d.location && !d.summary ? d.location : "") + (d.line ? ` (line ${d.line}${d.summary ? ":" + d.column : ""})` : "");
        const item = h("li", { class: d.severity.toLowerCase(), "data-line": d.line || "", "data-code": d.code },
          h("span", { class: "code", text: d.code }), " ",
          h("span", { class: "where", text: where }), " ",
          h("span", { class: "message", text: d.summary || d.message }));
        if (d.suggestion) item.append(" ", h("span", { class: "hint", text: `Did you mean "${d.suggestion}"?` }));
        item.addEventListener("click", (ev) => { if (ev.target.closest(".cascade-list")) return; if (from !== null) goTo(from, to); });
        const cascades = (d.cascades || []).map((i) => all[i]);
        if (cascades.length) {
          const list = h("ul", { class: "cascade-list" }, cascades.map((c) => h("li", { "data-line": c.line || "", onclick: () => { const p = offset(c.line, c.column); if (p !== null) goTo(p, offset(c.endLine, c.endColumn) ?? p); } },
            h("span", { class: "mono", text: c.state || c.location }))));
          const n = cascades.length;
          item.append(h("details", { class: "cascades" },
            h("summary", { class: "cascade-summary", text: `${n} state${n > 1 ? "s" : ""} unreachable because of this: ${cascades.slice(0, 4).map((c) => c.state).join(", ")}${n > 4 ? ", …" : ""}` }),
            list));
        }
        diagnostics.append(item);
      }
      if (!primary.length) diagnostics.append(h("li", { class: "none muted", text: "No problems found." }));
      view.dispatch(CM.setDiagnostics(view.state, marks));
      const errors = primary.filter((d) => d.severity === "ERROR").length;
      const cascaded = all.length - primary.length;
      status.className = errors ? "err-text" : "ok-text";
      status.textContent = errors ? `${errors} error${errors > 1 ? "s" : ""}${cascaded ? ` (+${cascaded} unreachable because of ${errors > 1 ? "them" : "it"})` : ""}` : "Definition is valid";
      status.setAttribute("data-result", result.result);
      save.disabled = errors > 0;
      try {
        lastGood = JSON.parse(value);
        names = collectNames(lastGood);
        refreshStateLists();
        drawPreview();
      } catch { /* keep the last good preview */ }
    }

    // -- save, with the conflict check -------------------------------------------------------------
    async function put(body) {
      const response = await fetch("/console/api/definition", {
        method: "PUT", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": cookie("wf_csrf") },
        body: JSON.stringify(body),
      });
      return { status: response.status, data: await response.json().catch(() => ({})) };
    }
    async function doSave(force) {
      save.disabled = true;
      const mine = doc();
      try {
        const { status: code, data } = await put({ stateMachineArn: arn, definition: mine, baseRevisionId: base.revisionId, baseHash: base.hash });
        if (code === 409) { showConflict(data, force); return; }
        if (code >= 400) throw new Error((data.error ? data.error + ": " : "") + (data.message || code));
        base.revisionId = data.revisionId; base.hash = data.sourceHash;
        revision.textContent = data.revisionId;
        conflict.hidden = true;
        saveResult.className = "ok-text";
        saveResult.textContent = "Saved revision " + data.revisionId + (data.source ? " and wrote " + data.source : "");
        banner.hidden = true;
      } catch (e) { saveResult.className = "err-text"; saveResult.textContent = e.message; }
      finally { save.disabled = status.getAttribute("data-result") === "FAIL"; }
    }
    function lineDiff(a, b) {
      const other = new Set(b.split("\n").map((l) => l.trim()));
      return a.split("\n").map((l) => h("div", { class: other.has(l.trim()) ? "" : "changed", text: l || " " }));
    }
    function showConflict(data) {
      saveResult.className = "err-text";
      saveResult.textContent = "Not saved: the definition changed since you loaded it";
      const theirs = data.current.text || "";
      const yours = data.yours || doc();
      clear(conflict).append(
        h("h2", { text: "Conflict: the file changed since you loaded it" }),
        h("p", { class: "muted", text: `Running revision ${data.current.revisionId || "initial"}. Lines that differ are marked. Take the file's version, or keep yours and overwrite it.` }),
        h("div", { class: "conflict-grid" },
          h("div", {}, h("h3", { text: "On disk / running" }), h("pre", { id: "conflict-theirs" }, lineDiff(theirs, yours))),
          h("div", {}, h("h3", { text: "Yours" }), h("pre", { id: "conflict-yours" }, lineDiff(yours, theirs)))),
        h("div", { class: "row" },
          h("button", { id: "conflict-take", text: "Take the file's version", onclick: () => { base.revisionId = data.current.revisionId; base.hash = data.current.sourceHash; setText(theirs); conflict.hidden = true; saveResult.textContent = ""; } }),
          h("button", { class: "danger", id: "conflict-overwrite", text: "Keep mine and overwrite", onclick: () => { base.revisionId = data.current.revisionId; base.hash = data.current.sourceHash; doSave(true); } })));
      conflict.hidden = false;
    }
    save.addEventListener("click", () => doSave(false));
    format.addEventListener("click", () => {
      try { setText(JSON.stringify(JSON.parse(doc()), null, 2) + "\n"); } catch (e) { saveResult.className = "err-text"; saveResult.textContent = "Cannot format: " + e.message; }
    });
    find.addEventListener("click", () => CM.openSearchPanel(view));

    // -- the file on disk against the running revision ---------------------------------------------
    async function pollSource() {
      if (document.hidden) return;
      let s;
      try { s = await api("GET", "source-status?" + q({ arn })); } catch { return; }
      revision.textContent = s.revisionId || "initial";
      const changedSince = (s.revisionId || null) !== base.revisionId || (base.hash && s.sourceHash !== base.hash);
      const notice = s.notice;
      clear(banner);
      if (notice && notice.status === "invalid" && s.differs) {
        banner.className = "source-banner bad";
        banner.setAttribute("data-kind", "invalid");
        banner.append(h("b", { text: notice.file + " is not valid, so it was not registered: " }), h("span", { text: (notice.problems || []).slice(0, 3).join("; ") }));
      } else if (changedSince) {
        banner.className = "source-banner warn";
        banner.setAttribute("data-kind", "changed");
        banner.append(h("b", { text: notice && notice.status === "registered" && notice.revisionId === s.revisionId
          ? `${notice.file} changed on disk and was registered as revision ${s.revisionId}. ` : "The definition changed since you loaded it. " }),
        h("button", { id: "reload", text: "Load it", onclick: () => reload() }));
      } else if (s.differs) {
        banner.className = "source-banner warn";
        banner.setAttribute("data-kind", "differs");
        banner.append(h("b", { text: (machine.source || "The file") + " differs from the running revision." }));
      }
      banner.hidden = !banner.firstChild;
    }
    async function reload() {
      const fresh = await api("GET", "state-machine?" + q({ arn }));
      base.revisionId = fresh.revisionId || null; base.hash = fresh.sourceHash;
      setText(fresh.sourceText || fresh.definition);
      banner.hidden = true;
    }

    // -- TestState ------------------------------------------------------------------------------------
    let testPicked = false;
    const testPick = h("select", { id: "test-state-name", onchange: () => { testPicked = true; loadInputs(); } });
    const pastInputs = h("select", { id: "test-past-input" }, h("option", { value: "", text: "Input from a past execution…" }));
    const testInput = h("textarea", { id: "test-input", rows: 7, spellcheck: "false" });
    testInput.value = "{}";
    const mode = h("select", { id: "test-mode" },
      h("option", { value: "mock", text: "Mock the task's result" }),
      h("option", { value: "error", text: "Mock a task error" }),
      h("option", { value: "local", text: "Run the real local handler" }));
    const mockBox = h("textarea", { id: "test-mock", rows: 4, spellcheck: "false" });
    mockBox.value = "{}";
    const testRun = h("button", { class: "primary", id: "test-run", text: "Test state" });
    const mockRow = h("div", { class: "mock-row" }, h("div", { class: "row" }, mode), h("h3", { text: "Mock (result JSON, or {\"error\", \"cause\"})" }), mockBox);
    const testOut = h("div", { id: "test-result" });
    let recorded = [];
    let inputSeq = 0;
    async function loadInputs() {
      const name = testPick.value;
      const mine = ++inputSeq;
      clear(pastInputs).append(h("option", { value: "", text: "Input from a past execution…" }));
      if (!name) return;
      let found;
      try { found = (await api("GET", "state-inputs?" + q({ arn, state: name }))).inputs; } catch { found = []; }
      if (mine !== inputSeq) return; // another state was picked meanwhile
      recorded = found;
      recorded.forEach((r, i) => pastInputs.append(h("option", { value: String(i), text: r.name })));
      if (recorded.length) { pastInputs.value = "0"; testInput.value = JSON.stringify(recorded[0].input, null, 2); }
    }
    pastInputs.addEventListener("change", () => { const r = recorded[Number(pastInputs.value)]; if (r) testInput.value = JSON.stringify(r.input, null, 2); });
    testRun.addEventListener("click", async () => {
      clear(testOut).append(h("p", { class: "muted", text: "Testing…" }));
      const body = { definition: doc(), stateName: testPick.value, input: testInput.value, inspectionLevel: "DEBUG" };
      // TestState takes a mock only for the states that call something.
      const mockable = ["Task", "Map", "Parallel"].includes(names.types[testPick.value]);
      try {
        if (!mockable) { /* Pass, Choice, Wait, ...: nothing to mock */ }
        else if (mode.value === "mock") body.mock = { result: mockBox.value };
        else if (mode.value === "error") { const e = JSON.parse(mockBox.value || "{}"); body.mock = { errorOutput: { error: e.error || "States.TaskFailed", cause: e.cause || "" } }; }
        const out = await api("POST", "test-state", body);
        const stages = out.inspectionData || {};
        clear(testOut).append(h("div", {},
          h("p", {}, h("span", { class: "badge " + (out.status === "SUCCEEDED" ? "succeeded" : out.status === "CAUGHT_ERROR" ? "caught" : "failed"), id: "test-status", text: out.status }),
            out.nextState ? h("span", { text: " → next state " }) : null, out.nextState ? h("b", { id: "test-next", text: out.nextState }) : null),
          out.error ? h("p", { class: "err-text", text: `${out.error}: ${out.cause || ""}` }) : null,
          h("h3", { text: "Processing stages" }),
          h("dl", { class: "stages", id: "test-stages" }, Object.entries(stages).flatMap(([k, v]) => [h("dt", { text: k }), h("dd", {}, h("pre", { text: typeof v === "string" ? pretty(v) : JSON.stringify(v, null, 2) }))])),
          out.output !== undefined ? h("div", {}, h("h3", { text: "Output" }), h("pre", { id: "test-output", text: pretty(out.output) })) : null));
      } catch (e) { clear(testOut).append(h("p", { class: "err-text", text: e.message })); }
    });
    function pretty(v) { try { return JSON.stringify(JSON.parse(v), null, 2); } catch { return String(v); } }
    function showMockControls() {
      const mockable = ["Task", "Map", "Parallel"].includes(names.types[testPick.value]);
      mockRow.hidden = !mockable;
    }
    testPick.addEventListener("change", showMockControls);
    function refreshStateLists() {
      const current = testPick.value;
      const wanted = names.states;
      const have = [...testPick.options].map((o) => o.value);
      if (wanted.join("\n") !== have.join("\n")) {
        clear(testPick).append(...wanted.map((n) => h("option", { value: n, text: n })));
        if (wanted.includes(current)) testPick.value = current;
      }
      showMockControls();
    }

    // -- Replay ---------------------------------------------------------------------------------------
    const replayLast = h("input", { type: "number", id: "replay-last", min: 1, max: 200, value: 20, class: "narrow" });
    const replayLocal = h("input", { type: "checkbox", id: "replay-local" });
    const replayRun = h("button", { class: "primary", id: "replay-run", text: "Replay" });
    const replayOut = h("div", { id: "replay-result" });
    replayRun.addEventListener("click", async () => {
      clear(replayOut).append(h("p", { class: "muted", text: "Replaying…" }));
      try {
        const out = await api("POST", "replay", { stateMachineArn: arn, definition: doc(), last: Number(replayLast.value) || 20, allowLocal: replayLocal.checked });
        const rank = (r) => (r.pathChanged || r.statusChanged ? 0 : r.outputChanged ? 1 : 2);
        const rows = [...out.executions].sort((a, b) => rank(a) - rank(b)).map((r) => {
          const d = r.divergesAt;
          const where = !d ? "–" : d.was !== undefined ? `${d.state || "start"}: ${d.was ?? "end"} → ${d.now ?? "end"}` : `${d.state} (output)`;
          const changes = [r.pathChanged && "path", r.outputChanged && "output", r.statusChanged && "status"].filter(Boolean);
          return h("tr", { class: r.pathChanged || r.statusChanged ? "changed" : r.outputChanged ? "output-only" : "", "data-name": r.name, "data-changed": String(r.changed), "data-path-changed": String(r.pathChanged) },
            h("td", {}, h("a", { href: executionUrl(r.executionArn), text: r.name })),
            h("td", { text: r.status.was === r.status.now ? r.status.now : `${r.status.was} → ${r.status.now}` }),
            h("td", { class: "what", text: changes.length ? changes.join(", ") : "same" }),
            h("td", { class: "mono where" }, h("span", { text: where }), r.pathChanged && d ? h("details", { class: "paths" }, h("summary", { text: "paths" }),
              h("div", { text: "was: … " + r.path.was.slice(Math.max(0, d.step - 1)).join(" → ") }),
              h("div", { text: "now: … " + r.path.now.slice(Math.max(0, d.step - 1)).join(" → ") })) : null),
            h("td", { class: "err-text", text: r.unrecorded.length ? "no recording: " + [...new Set(r.unrecorded)].join(", ") : "" }));
        });
        clear(replayOut).append(
          h("p", { id: "replay-summary" }, h("b", { text: `${out.pathChanged} of ${out.replayed} would take another path` }),
            h("span", { class: "muted", text: `; ${out.outputChanged} change output, ${out.statusChanged} change status (${out.seconds} s)` }),
            out.leftOut ? h("span", { id: "replay-left-out", class: "muted", text: `; ${out.leftOut} older not replayed (at most ${out.eventLimit.toLocaleString("en")} events or the time budget per replay)` }) : null),
          h("table", { class: "replay-table" }, h("thead", {}, h("tr", {}, ["Execution", "Status", "Changes", "Diverges at", ""].map((t) => h("th", { text: t })))), h("tbody", {}, rows)));
      } catch (e) { clear(replayOut).append(h("p", { class: "err-text", text: e.message })); }
    });

    // -- a form for the state under the cursor: Next/End, Retry, Catch, Choice rules ------------------
    const formBox = h("div", { id: "state-form" });
    let formFor = null;
    let formWriting = false;
    function findSpec(def, name) {
      let found = null;
      const walk = (scope) => {
        if (found || !scope || typeof scope !== "object" || !scope.States || typeof scope.States !== "object") return;
        if (Object.prototype.hasOwnProperty.call(scope.States, name)) { found = scope.States[name]; return; }
        for (const spec of Object.values(scope.States)) {
          if (!spec || typeof spec !== "object") continue;
          walk(spec.ItemProcessor || spec.Iterator);
          (spec.Branches || []).forEach(walk);
        }
      };
      walk(def);
      return found;
    }
    // Rewrite one state's object in the text, indented as it stood; the rest of the text is untouched.
    function writeState(name, spec) {
      const at = stateKeyPos(view.state, name);
      if (at === null) return;
      const prop = CM.syntaxTree(view.state).resolveInner(at + 1, 1).parent;
      const value = prop && prop.lastChild;
      if (!value || value.name !== "Object") return;
      const line = view.state.doc.lineAt(at);
      const indent = /^\s*/.exec(line.text)[0];
      const insert = JSON.stringify(spec, null, 2).split("\n").join("\n" + indent);
      // Keep the cursor inside the rewritten state, so the form stays on it.
      const head = view.state.selection.main.head;
      const inside = head >= value.from && head <= value.to;
      const anchor = inside ? Math.min(head, value.from + insert.length - 1) : undefined;
      formWriting = true;
      try {
        view.dispatch({ changes: { from: value.from, to: value.to, insert }, ...(inside ? { selection: { anchor } } : {}) });
      } finally { formWriting = false; }
    }
    function renderForm(force) {
      if (panes.form.hidden && !force) return;
      const name = cursorState;
      if (!force && name === formFor) return;
      formFor = name;
      clear(formBox);
      let def;
      try { def = JSON.parse(doc()); } catch { formBox.append(h("p", { class: "muted", text: "The text is not valid JSON: fix it to use the form." })); return; }
      const spec = name && findSpec(def, name);
      if (!spec || typeof spec !== "object") { formBox.append(h("p", { class: "muted", text: "Put the cursor in a state (or click one in the graph) to edit its common fields here." })); return; }
      const apply = () => writeState(name, spec);
      const targets = collectNames(def).states;
      const pick = (value, onPick, extra, id) => {
        const sel = h("select", { id }, (extra || []).map((o) => h("option", { value: o.value, text: o.text })), targets.map((t) => h("option", { value: t, text: t })));
        sel.value = value ?? "";
        sel.addEventListener("change", () => { onPick(sel.value); apply(); });
        return sel;
      };
      const field = (value, onSet, attrs) => {
        const input = h("input", { type: "text", ...attrs });
        input.value = value ?? "";
        input.addEventListener("change", () => { onSet(input.value); apply(); });
        return input;
      };
      const num = (v) => (v === "" ? undefined : Number(v));
      const errors = (v) => v.split(",").map((e) => e.trim()).filter(Boolean);
      formBox.append(h("h3", { id: "form-state", text: `${name} (${spec.Type || "?"})` }),
        h("label", { class: "form-line" }, h("span", { text: "Comment" }), field(spec.Comment, (v) => { if (v) spec.Comment = v; else delete spec.Comment; }, { id: "form-comment", size: 50 })));
      if (["Pass", "Task", "Wait", "Parallel", "Map"].includes(spec.Type)) {
        formBox.append(h("label", { class: "form-line" }, h("span", { text: "Next" }),
          pick(spec.End === true ? "" : spec.Next, (v) => { if (v) { spec.Next = v; delete spec.End; } else { spec.End = true; delete spec.Next; } }, [{ value: "", text: "(End: last state)" }], "form-next")));
      }
      if (spec.Type === "Choice") {
        const rules = Array.isArray(spec.Choices) ? spec.Choices : (spec.Choices = []);
        formBox.append(h("h3", { text: "Choice rules (in order; the first that matches wins)" }));
        rules.forEach((rule, i) => {
          const { Next: _next, ...condition } = rule;
          const cond = field(JSON.stringify(condition), (v) => { try { const c = JSON.parse(v); rules[i] = { ...c, Next: rule.Next }; cond.classList.remove("bad"); } catch { cond.classList.add("bad"); } }, { class: "mono wide", "data-rule": i });
          formBox.append(h("div", { class: "form-rule" }, h("span", { class: "muted", text: `Rule ${i + 1}` }), cond, h("span", { text: "→" }),
            pick(rule.Next, (v) => { rule.Next = v; }, [], `form-rule-${i}-next`)));
        });
        formBox.append(h("label", { class: "form-line" }, h("span", { text: "Default" }),
          pick(spec.Default, (v) => { if (v) spec.Default = v; else delete spec.Default; }, [{ value: "", text: "(none: States.NoChoiceMatched)" }], "form-default")));
      }
      if (["Task", "Parallel", "Map"].includes(spec.Type)) {
        const retry = Array.isArray(spec.Retry) ? spec.Retry : [];
        const rows = retry.map((r, i) => h("tr", { "data-retry": i },
          h("td", {}, field((r.ErrorEquals || []).join(", "), (v) => { r.ErrorEquals = errors(v); }, { class: "mono", size: 28 })),
          ...["IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds"].map((k) => h("td", {}, field(r[k], (v) => { if (v === "") delete r[k]; else r[k] = num(v); }, { size: 4, name: k }))),
          h("td", {}, h("button", { class: "small", text: "Remove", onclick: () => { retry.splice(i, 1); if (!retry.length) delete spec.Retry; apply(); renderForm(true); } }))));
        formBox.append(h("h3", { text: "Retry" }), h("table", { class: "form-table", id: "form-retry" },
          h("thead", {}, h("tr", {}, ["ErrorEquals", "Interval", "MaxAttempts", "Backoff", "MaxDelay", ""].map((t) => h("th", { text: t })))), h("tbody", {}, rows)),
        h("button", { class: "small", id: "form-add-retry", text: "Add a retrier", onclick: () => { spec.Retry = [...retry, { ErrorEquals: ["States.ALL"], IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 2 }]; apply(); renderForm(true); } }));
        const catchers = Array.isArray(spec.Catch) ? spec.Catch : [];
        const crows = catchers.map((c, i) => h("tr", { "data-catch": i },
          h("td", {}, field((c.ErrorEquals || []).join(", "), (v) => { c.ErrorEquals = errors(v); }, { class: "mono", size: 28 })),
          h("td", {}, field(c.ResultPath, (v) => { if (v === "") delete c.ResultPath; else c.ResultPath = v; }, { class: "mono", size: 10 })),
          h("td", {}, pick(c.Next, (v) => { c.Next = v; }, [], `form-catch-${i}-next`)),
          h("td", {}, h("button", { class: "small", text: "Remove", onclick: () => { catchers.splice(i, 1); if (!catchers.length) delete spec.Catch; apply(); renderForm(true); } }))));
        formBox.append(h("h3", { text: "Catch" }), h("table", { class: "form-table", id: "form-catch" },
          h("thead", {}, h("tr", {}, ["ErrorEquals", "ResultPath", "Next", ""].map((t) => h("th", { text: t })))), h("tbody", {}, crows)),
        h("button", { class: "small", id: "form-add-catch", text: "Add a catcher", onclick: () => { spec.Catch = [...catchers, { ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: targets.find((t) => t !== name) || name }]; apply(); renderForm(true); } }));
      }
    }

    // -- layout ---------------------------------------------------------------------------------------
    const panes = {
      graph: h("div", { class: "pane", id: "pane-graph" }, h("div", { class: "row" }, h("span", { class: "muted", text: "Click a state to find it in the text. " }), cursorLabel), preview),
      test: h("div", { class: "pane", id: "pane-test", hidden: true },
        h("label", {}, h("span", { text: "State " }), testPick), " ", pastInputs,
        h("h3", { text: "Input" }), testInput,
        mockRow,
        h("div", { class: "row" }, testRun), testOut),
      replay: h("div", { class: "pane", id: "pane-replay", hidden: true },
        h("p", { class: "muted", text: "Run past executions against the text in the editor. Their recorded task results stand in for the tasks, so nothing is called; time is virtual." }),
        h("div", { class: "row" }, h("label", {}, h("span", { text: "Last " }), replayLast, h("span", { text: " executions" })),
          h("label", {}, replayLocal, h("span", { text: " run local handlers where nothing was recorded" })), replayRun),
        replayOut),
      form: h("div", { class: "pane", id: "pane-form", hidden: true },
        h("p", { class: "muted", text: "The common fields of the state under the cursor. A change rewrites that state's JSON in the text; Save as usual." }),
        formBox),
    };
    const tabs = h("div", { class: "tabs" }, Object.entries({ graph: "Graph", form: "Form", test: "Test state", replay: "Replay" }).map(([key, label]) =>
      h("button", { class: key === "graph" ? "active" : "", id: "tab-" + key, onclick: (ev) => {
        for (const [k, pane] of Object.entries(panes)) pane.hidden = k !== key;
        for (const b of tabs.querySelectorAll("button")) b.classList.toggle("active", b === ev.currentTarget);
        if (key === "test" && !recorded.length) loadInputs();
        if (key === "form") renderForm(true);
      }, text: label })));

    clear(app).append(
      h("div", { class: "row" }, h("h1", { text: "Edit " + machine.name }), h("span", { class: "spacer" }), saveResult, find, format, save),
      h("div", { class: "editor-meta" },
        h("span", {}, h("span", { class: "muted", text: "Validation " }), status),
        h("span", {}, h("span", { class: "muted", text: "Running revision " }), revision),
        h("span", { class: "source" }, h("span", { class: "muted", text: "Source file " }), h("b", { class: "mono", title: machine.source || "", text: machine.source ? machine.source.split(/[\\/]/).slice(-2).join("/") : "(none: saved with UpdateStateMachine only)" }))),
      banner,
      conflict,
      h("div", { class: "editor-layout" },
        h("div", {}, host, h("div", { class: "panel below" }, h("h2", { text: "Diagnostics" }), diagnostics)),
        h("div", { class: "side" }, tabs, ...Object.values(panes))));
    refreshStateLists();
    followCursor();
    performance.mark("editor-ready"); // the text is on screen (the tests measure this)
    // The graph's layout is the costly part of opening: after the text has been painted.
    await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)));
    drawPreview();
    revealNode(cursorState || (lastGood && lastGood.StartAt)); // outside any state: where the machine starts
    performance.mark("editor-graph");
    await validate();
    if (machine.source) { pollSource(); setInterval(pollSource, 1000); }
  }

  window.WF.pages.editor = editorPage;
})();
