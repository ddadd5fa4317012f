// Entry point of ../codemirror.min.js, built by build.sh (see ../README.md).
// Everything the console's JSON editor uses is put on one global, window.CM;
// the bundle defines no other global.
import { basicSetup } from "codemirror";
import { EditorState, EditorSelection, StateEffect, StateField, Compartment } from "@codemirror/state";
import { EditorView, keymap, Decoration } from "@codemirror/view";
import { json, jsonParseLinter } from "@codemirror/lang-json";
import { linter, lintGutter, setDiagnostics, forceLinting } from "@codemirror/lint";
import { autocompletion, completeFromList, startCompletion } from "@codemirror/autocomplete";
import { syntaxTree, foldGutter, foldAll, unfoldAll } from "@codemirror/language";
import { search, openSearchPanel } from "@codemirror/search";
import { indentWithTab } from "@codemirror/commands";

// A plain theme that takes the console's CSS variables (with fallbacks), so the
// editor matches the page; dark=true also tells CodeMirror the background is dark.
function neutralTheme(dark = false) {
  const c = dark
    ? { bg: "#1b1f24", ink: "#e6e8eb", muted: "#8d96a0", line: "#30363d", active: "#ffffff0d", sel: "#3a5a80" }
    : { bg: "#fff", ink: "#16191f", muted: "#5f6b7a", line: "#d5dbe1", active: "#0972d30a", sel: "#cfe3fa" };
  return EditorView.theme({
    "&": { color: `var(--ink, ${c.ink})`, backgroundColor: `var(--panel, ${c.bg})` },
    ".cm-scroller": { fontFamily: "var(--mono, ui-monospace, monospace)" },
    ".cm-content": { caretColor: `var(--ink, ${c.ink})` },
    ".cm-gutters": { backgroundColor: `var(--panel, ${c.bg})`, color: `var(--muted, ${c.muted})`, borderRight: `1px solid var(--line, ${c.line})` },
    ".cm-activeLine, .cm-activeLineGutter": { backgroundColor: c.active },
    "&.cm-focused .cm-selectionBackground, .cm-selectionBackground, .cm-content ::selection": { backgroundColor: c.sel },
  }, { dark });
}

window.CM = Object.freeze({
  // editor and state
  EditorView, EditorState, EditorSelection, Compartment, basicSetup, keymap,
  // decorations (e.g. highlight the state under the cursor)
  StateEffect, StateField, Decoration,
  // JSON language and linting
  json, jsonParseLinter, linter, lintGutter, setDiagnostics, forceLinting,
  // completion
  autocompletion, completeFromList, startCompletion,
  // syntax tree and folding
  syntaxTree, foldGutter, foldAll, unfoldAll,
  // search and keys
  search, openSearchPanel, indentWithTab,
  // theme helper
  neutralTheme,
});
