// Holdfast desktop viewer: Debian's noVNC (served under /novnc/) over the attach WebSocket.
//
// noVNC speaks RFB to the server's own WebSocket⇄VNC gateway. It is handed the socket through a
// small channel that passes it the binary frames only: text frames are the server's notices,
// which session-link.js shows (and which would otherwise reach noVNC as RFB bytes). Each
// reconnect is a new RFB handshake against the same X server, so the desktop comes back as it was.
import RFB from "/novnc/core/rfb.js";
import KeyTable from "/novnc/core/input/keysym.js";

// The WebSocket as noVNC expects a raw channel, minus the text frames.
class BinaryChannel {
  constructor(ws) {
    this._ws = ws;
    this.onopen = null;
    this.onmessage = null;
    this.onerror = null;
    this.onclose = null;
    ws.addEventListener("open", (event) => this.onopen && this.onopen(event));
    ws.addEventListener("message", (event) => {
      if (typeof event.data !== "string" && this.onmessage) this.onmessage(event);
    });
    ws.addEventListener("error", (event) => this.onerror && this.onerror(event));
    ws.addEventListener("close", (event) => this.onclose && this.onclose(event));
  }
  get readyState() { return this._ws.readyState; }
  get protocol() { return this._ws.protocol; }
  get binaryType() { return this._ws.binaryType; }
  set binaryType(value) { this._ws.binaryType = value; }
  send(data) { this._ws.send(data); }
  close() { this._ws.close(); }
}

const screen = document.getElementById("desktop");
const scale = document.getElementById("scale");
const clipboardPanel = document.getElementById("clipboard");
const clipboardToggle = document.getElementById("clipboard-toggle");
const clipboardText = document.getElementById("clipboard-text");
let rfb = null;

function applyView() {
  if (!rfb) return;
  // Scale: fit the desktop into the window. Otherwise the desktop takes the window's size
  // (Xvnc's SetDesktopSize), at the browser's own pixels.
  rfb.scaleViewport = scale.checked;
  rfb.resizeSession = !scale.checked;
}

const keys = {
  "ctrl-alt-del": () => rfb.sendCtrlAltDel(),
  "alt-tab": () => combo([KeyTable.XK_Alt_L, "AltLeft"], [KeyTable.XK_Tab, "Tab"]),
  "alt-f4": () => combo([KeyTable.XK_Alt_L, "AltLeft"], [KeyTable.XK_F4, "F4"]),
  "ctrl-w": () => combo([KeyTable.XK_Control_L, "ControlLeft"], [KeyTable.XK_w, "KeyW"]),
  "esc": () => combo([KeyTable.XK_Escape, "Escape"]),
};

// Presses the keys in order and releases them in reverse: what the browser would keep for itself.
function combo(...pressed) {
  for (const [keysym, code] of pressed) rfb.sendKey(keysym, code, true);
  for (const [keysym, code] of pressed.reverse()) rfb.sendKey(keysym, code, false);
}

const link = HoldfastLink.start({
  endedText: "The desktop in this session has exited. Your files are kept.",
  url: (ticket) => `/api/v1/sessions/${document.body.dataset.session}/attach?ticket=${encodeURIComponent(ticket)}`,
  attach(ws, link) {
    if (rfb) {
      rfb.disconnect();
      rfb = null;
    }
    const current = new RFB(screen, new BinaryChannel(ws), { shared: true });
    rfb = current;
    applyView();
    current.focusOnClick = true;
    current.addEventListener("connect", () => {
      link.connected();
      current.focus();
      document.body.dataset.connected = "true";
    });
    current.addEventListener("desktopname", (event) => {
      document.title = `${event.detail.name} · Holdfast`;
      document.body.dataset.desktopName = event.detail.name;
    });
    // Text copied on the desktop: into the panel, and into the browser's clipboard when allowed.
    current.addEventListener("clipboard", (event) => {
      clipboardText.value = event.detail.text;
      if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(event.detail.text).catch(() => {});
    });
  },
});

for (const button of document.querySelectorAll("[data-keys]")) {
  button.addEventListener("click", () => {
    if (!rfb) return;
    keys[button.dataset.keys]();
    rfb.focus();
  });
}
scale.addEventListener("change", applyView);
// Files dropped onto the desktop go into the home folder.
HoldfastUploads.acceptDrops(screen, HoldfastUploads.dropIntoHome);
clipboardToggle.addEventListener("click", () => {
  clipboardPanel.hidden = !clipboardPanel.hidden;
  clipboardToggle.setAttribute("aria-expanded", String(!clipboardPanel.hidden));
  if (!clipboardPanel.hidden) clipboardText.focus();
});
function sendClipboard() {
  if (rfb) rfb.clipboardPasteFrom(clipboardText.value);
}
document.getElementById("clipboard-send").addEventListener("click", sendClipboard);
// Text pasted into the page (outside the panel) goes to the desktop's clipboard too.
window.addEventListener("paste", (event) => {
  if (event.target === clipboardText) return;
  const text = event.clipboardData && event.clipboardData.getData("text/plain");
  if (text && rfb) rfb.clipboardPasteFrom(text);
});
window.holdfastDesktop = { link, get rfb() { return rfb; } };
