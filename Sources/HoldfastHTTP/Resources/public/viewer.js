// Holdfast terminal viewer: xterm.js over the attach WebSocket (session-link.js reconnects it).
//
// On resume tmux sends a full redraw, so the terminal is reset first and the screen comes back clean.
"use strict";

(() => {
  const encoder = new TextEncoder();
  const term = new Terminal({
    cursorBlink: true,
    scrollback: 5000,
    fontFamily: "ui-monospace, 'DejaVu Sans Mono', Menlo, monospace",
    fontSize: 14,
    theme: { background: "#0d1117", foreground: "#e6edf3" },
  });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(document.getElementById("terminal"));
  fit.fit();

  const link = HoldfastLink.start({
    endedText: "The shell in this session has exited. Your files are kept.",
    url: (ticket) =>
      `/api/v1/sessions/${document.body.dataset.session}/attach?ticket=${encodeURIComponent(ticket)}&cols=${term.cols}&rows=${term.rows}`,
    attach(ws, link) {
      let redrawn = false;
      ws.addEventListener("message", (event) => {
        if (typeof event.data === "string") return;
        if (!redrawn) {
          // The first bytes of each connection are tmux's full redraw: start from a clean screen.
          term.reset();
          redrawn = true;
          link.connected();
        }
        term.write(new Uint8Array(event.data));
      });
    },
  });

  term.onData((data) => link.send(encoder.encode(data)));
  term.onResize(({ cols, rows }) => link.send(JSON.stringify({ type: "resize", cols, rows })));
  window.addEventListener("resize", () => fit.fit());

  // Files dropped onto the terminal go into the home folder.
  HoldfastUploads.acceptDrops(document.getElementById("terminal"), HoldfastUploads.dropIntoHome);

  // Ctrl+Shift+C and Ctrl+Shift+V copy and paste, as in desktop terminals: Ctrl+C stays the
  // shell's interrupt. Selecting text copies nothing by itself.
  term.attachCustomKeyEventHandler((event) => {
    if (!event.ctrlKey || !event.shiftKey || event.altKey || event.metaKey) return true;
    const key = /^[a-z]$/i.test(event.key) ? event.key.toLowerCase() : event.code.replace(/^Key/, "").toLowerCase();
    if (key !== "c" && key !== "v") return true;
    if (event.type === "keydown") (key === "c" ? copySelection : pasteClipboard)(event);
    return false;
  });

  function copySelection(event) {
    event.preventDefault();
    const text = term.getSelection();
    if (!text) return;
    // Without the async clipboard (a page not served over https), the copy command fires the
    // copy event, in which xterm puts the selection.
    if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(text).catch(() => document.execCommand("copy"));
    else document.execCommand("copy");
  }

  function pasteClipboard(event) {
    // Without the async clipboard the browser's own paste (Ctrl+Shift+V is "paste as plain text")
    // reaches xterm's text area, which pastes.
    if (!navigator.clipboard || !navigator.clipboard.readText) return;
    event.preventDefault();
    navigator.clipboard.readText().then(
      (text) => { if (text) term.paste(text); },
      () => HoldfastUploads.toast().failed("The browser did not let this page read the clipboard: paste with a right click instead."),
    );
  }

  // OSC 52: a program in the session (vim, tmux, an ssh session inside) sets the clipboard. The
  // user allows or blocks that once for this site. A program asking to read the clipboard
  // (`52;c;?`) gets no answer: the user's clipboard is not the remote side's to read.
  const clipboardChoiceKey = "holdfast.osc52";
  const largestCopy = 1024 * 1024;
  const clipboardAsk = document.getElementById("clipboard-ask");
  let pendingCopy = null;

  function clipboardChoice() {
    try { return localStorage.getItem(clipboardChoiceKey); } catch (_) { return null; }
  }

  function writeClipboard(text) {
    if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(text).catch(() => {});
  }

  function decodeCopy(data) {
    const payload = data.slice(data.indexOf(";") + 1);
    if (payload === "?" || payload === "" || payload.length > Math.ceil(largestCopy / 3) * 4) return null;
    try {
      const bytes = Uint8Array.from(atob(payload), (character) => character.charCodeAt(0));
      return bytes.length > largestCopy ? null : new TextDecoder().decode(bytes);
    } catch (_) {
      return null; // not base64
    }
  }

  term.parser.registerOscHandler(52, (data) => {
    if (!data.includes(";")) return true;
    const text = decodeCopy(data);
    const choice = clipboardChoice();
    if (text === null || choice === "block") return true;
    if (choice === "allow") {
      writeClipboard(text);
    } else {
      pendingCopy = text;
      clipboardAsk.hidden = false;
    }
    return true;
  });

  for (const answer of clipboardAsk.querySelectorAll("[data-choice]")) {
    answer.addEventListener("click", () => {
      try { localStorage.setItem(clipboardChoiceKey, answer.dataset.choice); } catch (_) { /* asked again next time */ }
      if (answer.dataset.choice === "allow" && pendingCopy !== null) writeClipboard(pendingCopy);
      pendingCopy = null;
      clipboardAsk.hidden = true;
      term.focus();
    });
  }

  term.focus();
  window.holdfastViewer = { term, link };
})();
