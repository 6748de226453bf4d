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
  term.focus();
})();
