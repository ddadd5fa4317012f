// The console's definition editor page. Same rules as console.js: user values reach the page only
// through textContent or setAttribute. It uses console.js's helpers through window.WF.
"use strict";
(() => {
  const { app, h, clear, api, crumbs, q, machineUrl, drawGraph, legend } = window.WF;

  // -- page: definition editor ----------------------------------------------------------------------
  async function editorPage(arn) {
    const machine = await api("GET", "state-machine?" + q({ arn }));
    crumbs({ text: "State machines", href: "/console" }, { text: machine.name, href: machineUrl(arn) }, { text: "Edit definition" });
    let text = machine.sourceText || machine.definition;
    if (!machine.sourceText) { try { text = JSON.stringify(JSON.parse(text), null, 2); } catch { /* keep the text as stored */ } }
    const textarea = h("textarea", { id: "definition", spellcheck: "false", wrap: "off", "aria-label": "definition" });
    textarea.value = text;
    const gutter = h("div", { class: "gutter", id: "gutter" });
    const backdrop = h("div", { class: "backdrop" });
    const diagnostics = h("ul", { class: "diagnostics", id: "diagnostics" });
    const status = h("b", { id: "validation-status" });
    const preview = h("div", { class: "graph-box", id: "preview" });
    const saveResult = h("span", { id: "save-result", class: "muted" });
    const save = h("button", { class: "primary", id: "save", text: "Save" });
    const revision = h("b", { class: "mono", id: "revision", text: machine.revisionId || "initial" });
    let marks = {};

    function paintLines() {
      const count = textarea.value.split("\n").length;
      clear(gutter).append(...Array.from({ length: count }, (_, i) => h("div", { class: marks[i + 1] || "", "data-line": i + 1, text: i + 1 })));
      clear(backdrop).append(...Array.from({ length: count }, (_, i) => h("div", { class: marks[i + 1] || "" })));
      syncScroll();
    }
    function syncScroll() {
      gutter.scrollTop = textarea.scrollTop;
      backdrop.style.transform = `translate(${-textarea.scrollLeft}px, ${-textarea.scrollTop}px)`;
    }
    function goTo(line) {
      const lines = textarea.value.split("\n");
      const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
      textarea.focus();
      textarea.setSelectionRange(start, start + (lines[line - 1] || "").length);
      textarea.scrollTop = Math.max(0, (line - 5) * 18);
      syncScroll();
    }
    let seq = 0;
    async function validate() {
      const mine = ++seq;
      const value = textarea.value;
      let result;
      try { result = await api("POST", "validate", { definition: value, type: machine.type }); }
      catch (e) { status.textContent = e.message; return; }
      if (mine !== seq) return;
      marks = {};
      clear(diagnostics);
      for (const d of result.diagnostics) {
        const cls = d.severity === "ERROR" ? "err" : "warn";
        if (d.line && marks[d.line] !== "err") marks[d.line] = cls;
        diagnostics.append(h("li", { class: d.severity.toLowerCase(), "data-line": d.line || "", onclick: () => d.line && goTo(d.line) },
          h("span", { class: "code", text: d.code }), " ",
          h("span", { class: "where", text: (d.location || "/") + (d.line ? ` (line ${d.line})` : "") }), " ",
          h("span", { class: "message", text: d.message })));
      }
      paintLines();
      const errors = result.diagnostics.filter((d) => d.severity === "ERROR").length;
      status.className = errors ? "err-text" : "ok-text";
      status.textContent = errors ? `${errors} error${errors > 1 ? "s" : ""}` : "Definition is valid";
      status.setAttribute("data-result", result.result);
      save.disabled = errors > 0;
      try { const def = JSON.parse(value); clear(preview).append(drawGraph(def, null, null, null)); } catch { /* keep the last good preview */ }
    }
    let timer;
    textarea.addEventListener("input", () => { paintLines(); clearTimeout(timer); timer = setTimeout(validate, 300); });
    textarea.addEventListener("scroll", syncScroll);
    textarea.addEventListener("keydown", (ev) => {
      if (ev.key === "Tab") { ev.preventDefault(); const { selectionStart: a, selectionEnd: b } = textarea; textarea.setRangeText("  ", a, b, "end"); textarea.dispatchEvent(new Event("input")); }
    });
    save.addEventListener("click", async () => {
      save.disabled = true;
      try {
        const out = await api("PUT", "definition", { stateMachineArn: arn, definition: textarea.value });
        revision.textContent = out.revisionId;
        saveResult.className = "ok-text";
        saveResult.textContent = "Saved revision " + out.revisionId + (out.source ? " and wrote " + out.source : "");
      } catch (e) { saveResult.className = "err-text"; saveResult.textContent = e.message; }
      save.disabled = false;
    });

    clear(app).append(
      h("div", { class: "row" }, h("h1", { text: "Edit " + machine.name }), h("span", { class: "spacer" }), saveResult, save),
      h("div", { class: "panel summary" },
        h("div", {}, h("span", { text: "Revision" }), revision),
        h("div", {}, h("span", { text: "Source file" }), h("b", { class: "mono", text: machine.source || "(none: saved with UpdateStateMachine only)" })),
        h("div", {}, h("span", { text: "Validation" }), status)),
      h("div", { class: "editor-layout" },
        h("div", {}, h("div", { class: "editor" }, gutter, h("div", { class: "surface" }, backdrop, textarea)),
          h("div", { class: "panel below" }, h("h2", { text: "Diagnostics" }), diagnostics)),
        h("div", {}, h("h2", { text: "Graph preview" }), preview, legend())));
    paintLines();
    await validate();
  }

  window.WF.pages.editor = editorPage;
})();
