// A courtroom screen: shows what the agent pushes, acknowledges what it rendered.
// Read-only: the only thing it sends is {"shown": kind, "id": n} after each DOM update.
"use strict";

const $ = (id) => document.getElementById(id);
const VIEW = document.body.dataset.view;
const LINES = Math.max(1, Number(document.body.dataset.lines) || 8);

const STATE_LABELS = { idle: "空闲", open: "庭审中", recess: "休庭中" };
const REASON_LABELS = {
  recess: "休庭",
  "closed-evidence": "不公开举证质证",
  mediation: "调解",
};
// Role prefix -> [background, text]; the first match wins (被上诉人 before 上诉人).
const ROLE_COLOURS = [
  ["审判长", "#b91c1c", "#fff"],
  ["审判员", "#991b1b", "#fff"],
  ["人民陪审员", "#9f1239", "#fff"],
  ["书记员", "#4b5563", "#fff"],
  ["被上诉人", "#c2410c", "#fff"],
  ["被申请人", "#c2410c", "#fff"],
  ["被告", "#c2410c", "#fff"],
  ["上诉人", "#1d4ed8", "#fff"],
  ["申请人", "#1d4ed8", "#fff"],
  ["原告", "#1d4ed8", "#fff"],
  ["公诉人", "#7e22ce", "#fff"],
  ["辩护人", "#047857", "#fff"],
  ["代理人", "#0e7490", "#fff"],
  ["证人", "#a16207", "#fff"],
  ["第三人", "#be185d", "#fff"],
];

let socket = null;
let retry = 0;
let exhibitKey = null;

function roleColour(role) {
  for (const [prefix, bg, fg] of ROLE_COLOURS) if (String(role).startsWith(prefix)) return [bg, fg];
  return ["#475569", "#fff"];
}

function send(shown, id) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ shown, id }));
}

// Acknowledge once the DOM change is laid out for the next frame.
function ackAfterFrame(shown, id) {
  requestAnimationFrame(() => send(shown, id));
}

function showState(state) {
  const badge = $("state");
  const label = STATE_LABELS[state.state] || state.state;
  const reason = state.reason ? REASON_LABELS[state.reason] || state.reason : "";
  badge.textContent = reason ? `${label} · ${reason}` : label;
  badge.className = `state state-${state.state}`;
  $("rec").hidden = state.state !== "open";
  const hearing = state.hearing || null;
  $("case-number").textContent = hearing ? hearing.case || "" : "";
  $("hearing-title").textContent = hearing ? hearing.title || "" : "";
  if (state.state === "idle") $("lines").replaceChildren(); // 闭庭: nothing left on show
  $("waiting").hidden = state.state !== "idle";
  if (state.state !== "open") $("partial").hidden = true;
}

function lineOf(final) {
  const li = document.createElement("li");
  li.dataset.id = final.id;
  const role = document.createElement("span");
  role.className = "role";
  role.textContent = final.role || "—";
  const [bg, fg] = roleColour(final.role);
  role.style.setProperty("--role-bg", bg);
  role.style.setProperty("--role-fg", fg);
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = final.text;
  li.append(role, text);
  return li;
}

function addFinal(final) {
  const lines = $("lines");
  lines.append(lineOf(final));
  while (lines.children.length > LINES) lines.firstElementChild.remove();
  const n = lines.children.length;
  Array.from(lines.children).forEach((li, i) => {
    li.classList.toggle("oldest", i < n - 4);
    li.classList.toggle("older", i >= n - 4 && i < n - 1);
  });
  $("waiting").hidden = true;
  const partial = $("partial");
  if (partial.dataset.channel === String(final.channel)) partial.hidden = true;
}

function showPartial(partial) {
  const p = $("partial");
  p.dataset.channel = String(partial.channel);
  p.textContent = partial.text ? `${partial.role}：${partial.text}…` : "";
  p.hidden = !partial.text;
}

function caption(exhibit) {
  const box = $("caption");
  box.replaceChildren();
  const tag = document.createElement("span");
  tag.className = "tag";
  // An exhibit numbered in Chinese (证据1) travels as "ex-…"; its label then leads with the number.
  tag.textContent = exhibit.id.startsWith("ex-") ? "证据" : `证据 ${exhibit.id}`;
  const label = document.createElement("span");
  label.textContent = exhibit.label || "";
  const where = document.createElement("span");
  where.className = "where";
  const parts = [];
  if (exhibit.kind === "pdf") parts.push(`第 ${exhibit.page} 页`);
  if (exhibit.zoom !== 1) parts.push(`${Math.round(exhibit.zoom * 100)}%`);
  where.textContent = parts.join(" · ");
  box.append(tag, label, where);
}

// Show an exhibit (or go back to the transcript); `done` runs once it is on screen.
function showExhibit(exhibit, done) {
  const section = $("exhibit");
  const img = $("exhibit-image");
  $("exhibit-error").hidden = true;
  if (!exhibit) {
    section.hidden = true;
    $("transcript").hidden = false;
    img.removeAttribute("src");
    exhibitKey = null;
    return done(true);
  }
  caption(exhibit);
  section.hidden = false;
  $("transcript").hidden = true;
  if (exhibit.kind === "live") {
    img.hidden = true;
    $("live").hidden = false;
    $("live-source").textContent = exhibit.source;
    exhibitKey = null;
    return done(true);
  }
  $("live").hidden = true;
  img.hidden = false;
  const path = exhibit.path.split("/").map(encodeURIComponent).join("/");
  const query = exhibit.kind === "pdf" ? `?page=${exhibit.page}&zoom=${exhibit.zoom}` : "";
  const src = `/display/evidence/${path}${query}`;
  img.style.transform = exhibit.kind === "pdf" && exhibit.zoom === 1 ? "" : `scale(${exhibit.zoom})`;
  img.alt = exhibit.label || exhibit.id;
  if (src === exhibitKey) return done(true);
  // Load aside and swap when decoded, so a page turn never flashes an empty stage.
  const next = new Image();
  next.onload = () => {
    next.decode().catch(() => {}).finally(() => {
      img.src = src;
      exhibitKey = src;
      done(true);
    });
  };
  next.onerror = () => {
    $("exhibit-error").hidden = false;
    img.hidden = true;
    exhibitKey = null;
    done(false);
  };
  next.src = src;
}

const HANDLERS = {
  state(msg) {
    showState(msg);
    ackAfterFrame("state", msg.id);
  },
  final(msg) {
    addFinal(msg);
    ackAfterFrame("final", msg.id);
  },
  partial(msg) {
    showPartial(msg);
  },
  exhibit(msg) {
    showExhibit(msg.exhibit, (ok) => ok && ackAfterFrame("exhibit", msg.id));
  },
  snapshot(msg) {
    $("lines").replaceChildren();
    $("partial").hidden = true;
    for (const final of msg.finals) addFinal(final);
    showState(msg.state);
    // An exhibit that failed to load is not confirmed: the report keeps what was last shown.
    showExhibit(msg.exhibit, (ok) => ok && ackAfterFrame("snapshot", msg.id));
  },
};

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/display/ws/${encodeURIComponent(VIEW)}`);
  socket.onopen = () => {
    retry = 0;
    $("offline").hidden = true;
  };
  socket.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    const handler = HANDLERS[msg.type];
    if (handler) handler(msg);
  };
  socket.onclose = () => {
    $("offline").hidden = false;
    $("rec").hidden = true; // do not claim recording while we cannot know
    const delay = Math.min(5000, 250 * 2 ** retry++) * (0.5 + Math.random() / 2);
    setTimeout(connect, delay);
  };
}

function tick() {
  const now = new Date();
  $("clock").textContent = now.toLocaleTimeString("zh-CN", { hour12: false });
}

tick();
setInterval(tick, 1000);
connect();
