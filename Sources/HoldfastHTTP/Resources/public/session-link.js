// Holdfast session link: the attach WebSocket of one session page, with automatic reconnect.
//
// Shared by the terminal viewer (viewer.js) and the desktop viewer (desktop.js). Every connection
// asks for a fresh single-use ticket. When the connection drops, the overlay says until when the
// server holds the session and counts down, and the link retries: first within a second, then
// backing off to every 5 seconds. Text frames are the server's JSON notices (the session ended,
// an error, maintenance banners, a limit the session hit) and are handled here; binary frames
// belong to the viewer.
"use strict";

window.HoldfastLink = (() => {
  // options: { url(ticket) → attach URL, attach(ws, link) → sets up the viewer on a new socket }
  function start(options) {
    const body = document.body;
    const sessionId = body.dataset.session;
    const graceSeconds = Number(body.dataset.grace || 1800);
    const overlay = document.getElementById("overlay");
    const overlayTitle = document.getElementById("overlay-title");
    const overlayText = document.getElementById("overlay-text");
    const overlayRetry = document.getElementById("overlay-retry");
    const overlayAction = document.getElementById("overlay-action");
    const statusDot = document.getElementById("status-dot");
    const statusText = document.getElementById("status-text");

    let socket = null;
    let attempt = 0;
    let retryTimer = null;
    let countdownTimer = null;
    let lastHeardAt = Date.now();
    let heldUntil = null;
    let finished = false;

    function setStatus(state, text) {
      statusDot.className = "dot " + state;
      statusText.textContent = text;
    }

    function timeText(date) {
      return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    }

    function showLost() {
      overlayTitle.textContent = "Connection lost";
      overlayAction.hidden = false;
      overlay.hidden = false;
      updateCountdown();
      clearInterval(countdownTimer);
      countdownTimer = setInterval(updateCountdown, 1000);
    }

    function updateCountdown() {
      const until = heldUntil || new Date(lastHeardAt + graceSeconds * 1000);
      const left = Math.max(0, until.getTime() - Date.now());
      const minutes = Math.floor(left / 60000);
      const seconds = Math.floor((left % 60000) / 1000);
      const leftText = minutes >= 1 ? `${minutes} min left` : `${seconds} s left`;
      overlayText.textContent = `Connection lost — your session is held until ${timeText(until)} (${leftText}).`;
    }

    function showFinal(title, text) {
      finished = true;
      clearTimeout(retryTimer);
      clearInterval(countdownTimer);
      overlayTitle.textContent = title;
      overlayText.textContent = text;
      overlayRetry.textContent = "";
      overlayAction.hidden = true;
      overlay.hidden = false;
      setStatus("closed", title);
    }

    // Learns the server's deadline (lostAt + grace); without a network the local estimate stays.
    async function refreshDeadline() {
      try {
        const response = await fetch(`/api/v1/sessions/${sessionId}`, { credentials: "same-origin" });
        if (response.status === 401) {
          window.location.assign(`/login?next=/sessions/${sessionId}`);
          return;
        }
        if (!response.ok) return;
        const session = await response.json();
        if (session.state === "closed" || session.state === "closing") {
          showFinal("Session closed", "This session has ended and its files are kept. Start a new session from your session list.");
        } else if (session.expiresAt && session.state === "held") {
          heldUntil = new Date(session.expiresAt);
          updateCountdown();
        }
      } catch (_) { /* offline: keep the estimate */ }
    }

    function scheduleReconnect() {
      if (finished) return;
      const delay = attempt === 0 ? 500 : Math.min(5000, 1000 * 2 ** (attempt - 1));
      attempt += 1;
      overlayRetry.textContent = `Reconnecting in ${Math.ceil(delay / 1000)} s…`;
      clearTimeout(retryTimer);
      retryTimer = setTimeout(connect, delay);
    }

    function control(notice) {
      if (notice.type === "ended") {
        showFinal("Session ended", options.endedText || "The session's program has exited. Your files are kept.");
      } else if (notice.type === "error" && notice.code !== "invalid_ticket") {
        showFinal("Cannot attach", notice.message);
      } else if (notice.type === "banners") {
        showBanners(notice.banners);
      } else if (notice.type === "notice") {
        showLimitNotice(notice.message);
      }
    }

    async function connect() {
      if (finished) return;
      clearTimeout(retryTimer);
      setStatus("connecting", "Connecting…");
      overlayRetry.textContent = "Reconnecting…";
      let ticket;
      try {
        const response = await fetch(`/api/v1/sessions/${sessionId}/tickets`, { method: "POST", credentials: "same-origin" });
        if (response.status === 401) {
          window.location.assign(`/login?next=/sessions/${sessionId}`);
          return;
        }
        const payload = await response.json();
        if (!response.ok) {
          const message = payload && payload.error ? payload.error.message : `The server answered ${response.status}.`;
          if (response.status === 404 || response.status === 409 || response.status === 403) {
            showFinal("Session closed", message);
            return;
          }
          throw new Error(message);
        }
        ticket = payload.ticket;
      } catch (_) {
        setStatus("lost", "Offline");
        scheduleReconnect();
        return;
      }
      const scheme = window.location.protocol === "https:" ? "wss" : "ws";
      const ws = new WebSocket(`${scheme}://${window.location.host}${options.url(ticket)}`);
      ws.binaryType = "arraybuffer";
      socket = ws;
      ws.addEventListener("message", (event) => {
        lastHeardAt = Date.now();
        if (typeof event.data === "string") control(JSON.parse(event.data));
      });
      ws.addEventListener("close", () => {
        if (socket !== ws) return;
        socket = null;
        if (finished) return;
        setStatus("lost", "Connection lost");
        showLost();
        refreshDeadline();
        scheduleReconnect();
      });
      options.attach(ws, link);
    }

    const link = {
      sessionId,
      // The viewer got its first screen: the session is back.
      connected() {
        attempt = 0;
        heldUntil = null;
        overlay.hidden = true;
        clearInterval(countdownTimer);
        setStatus("connected", "Connected");
      },
      // Sends on the open socket, if there is one (keystrokes typed while offline are dropped).
      send(data) {
        if (socket && socket.readyState === WebSocket.OPEN) socket.send(data);
      },
    };

    window.addEventListener("online", () => { if (!socket && !finished) connect(); });
    overlayAction.addEventListener("click", () => { attempt = 0; connect(); });
    connect();
    return link;
  }

  // Maintenance banners pushed by the server over the session's control channel, with a countdown.
  let bannerTimer = null;
  function showBanners(banners) {
    const bar = document.getElementById("banner");
    if (bannerTimer) { clearInterval(bannerTimer); bannerTimer = null; }
    if (!banners || banners.length === 0) { bar.hidden = true; bar.textContent = ""; return; }
    const render = () => {
      bar.textContent = "";
      for (const banner of banners) {
        const line = document.createElement("div");
        line.className = "banner-line";
        line.dataset.banner = banner.id;
        const left = new Date(banner.startsAt).getTime() - Date.now();
        const countdown = left > 0
          ? ` Starts in ${Math.floor(left / 3600000)} h ${Math.floor((left % 3600000) / 60000)} min ${Math.floor((left % 60000) / 1000)} s.`
          : " In progress.";
        line.textContent = banner.text + countdown;
        bar.appendChild(line);
      }
    };
    render();
    bar.hidden = false;
    bannerTimer = setInterval(render, 1000);
  }

  // A limit the session hit (a process killed for memory, a fork refused), said in words; stays until dismissed.
  function showLimitNotice(message) {
    const bar = document.getElementById("limit-notice");
    if (!bar) return;
    bar.querySelector("span").textContent = message;
    bar.querySelector("button").onclick = () => { bar.hidden = true; };
    bar.hidden = false;
  }

  return { start };
})();
