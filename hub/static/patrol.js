// Patrol wall (庭审巡查): every courtroom at a glance — camera pictures, hearing, alarms.
// Vanilla JS, no build step; session.js (loaded first) holds what the clerk
// page shares. Live messages are described in hub/live.py.
//
// One /ws/live socket for the whole wall, subscribed with {"type": "patrol"}: the
// hub sends a patrol-snapshot (every configured courtroom with its hearing and
// status; the tiles are built from it) and then hearing, hearing_state, status, thumbnail,
// compliance (the five lights, lights.js) and alarm messages of every courtroom, never
// transcript traffic. The socket
// reconnects with jittered exponential backoff; every snapshot starts a fresh
// alarm sync of every courtroom.
//
// Bounds, so the page can stay open all day with many courtrooms:
// - requests: on each (re)connect, per courtroom one request per alarm kind for
//   its RECENT_EVENTS newest events (GET /api/courtrooms/{id}/events?order=desc),
//   plus one camera list on first sight; at most MAX_FETCHES of these in flight.
//   An alarm raised before a courtroom's RECENT_EVENTS newest events of its kind
//   and never cleared is not shown (the event log has it).
// - pictures: one blob URL per camera; the previous one is revoked as soon as
//   the next picture is shown; at most one fetch per camera in flight, further
//   thumbnail notices while it runs collapse into one more fetch; none while the
//   tab is hidden (the latest is fetched when it becomes visible again).
// - alarms: per courtroom at most MAX_ALARMS active alarms are kept; raising one
//   more drops the oldest and counts it as omitted (shown on the tile). Alarm
//   messages that arrive while a courtroom's alarms are being read wait in a
//   queue of at most MAX_PENDING (overflow: read them again from the archive).
"use strict";

const MAX_ALARMS = 20;
const RECENT_EVENTS = 200;
const MAX_FETCHES = 4;
const MAX_PENDING = 200;
const SYNC_RETRY_MS = 5000;
const ALARM_KINDS = ["av.alarm", "camera", "hub.quarantine"];
const AGENT_STATES = { recording: "录音中", idle: "待机", degraded: "降级运行", stopped: "已停止" };
// The hearing's state (courtroom_core/hearing.py), as the hub follows it: hearing_state messages.
const HEARING_STATES = { idle: ["空闲", "Idle"], open: ["庭审中", "In session"], recess: ["休庭中", "In recess"] };
const RECESS_REASONS = { recess: "休庭", "closed-evidence": "不公开举证质证", mediation: "调解" };

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  user: sessionStorage.getItem(USER_KEY),
  rooms: new Map(), // id -> room (see newRoom), in the snapshot's order
  ws: null,
  live: false, // patrol-snapshot received on the current socket
  retry: 0,
  retryTimer: null,
  fetching: 0, // archive requests in flight (at most MAX_FETCHES)
  waiting: [], // resolvers of requests waiting for a slot
};

// ---- helpers ---------------------------------------------------------------

// "中文 · English" or "中文 / English" -> ["中文", "English"]
function splitMessage(message) {
  const text = String(message || "");
  const match = text.match(/\s[·/]\s/);
  if (!match) return [text, ""];
  return [text.slice(0, match.index), text.slice(match.index + match[0].length)];
}

function api(path, options = {}) {
  return authFetch(state.token, path, options, logout);
}

function roomPath(room, rest) {
  return `/api/courtrooms/${encodeURIComponent(room.id)}${rest}`;
}

// Run task() (a request and the reading of its body) with at most MAX_FETCHES at once.
async function limited(task) {
  while (state.fetching >= MAX_FETCHES) await new Promise((resolve) => state.waiting.push(resolve));
  state.fetching += 1;
  try {
    return await task();
  } finally {
    state.fetching -= 1;
    const next = state.waiting.shift();
    if (next) next();
  }
}

// ---- login -----------------------------------------------------------------

function login(event) {
  return submitLogin(event, (token, user) => {
    state.token = token;
    state.user = user;
    showWall();
  });
}

function logout(message) {
  state.token = null;
  disconnect();
  for (const room of state.rooms.values()) dropRoom(room);
  state.rooms.clear();
  $("wall").replaceChildren();
  $("wall-view").hidden = true;
  renderConn();
  forgetSession(message);
}

// ---- courtrooms ------------------------------------------------------------

function newRoom(info) {
  return {
    id: info.id,
    name: info.name,
    online: false,
    hearing: info.hearing,
    hearingState: info.hearing_state || null, // {state, reason, hearing_id}
    compliance: info.compliance || null, // the last "compliance" message: five lights
    report: {},
    lastSeq: { "av.alarm": 0, camera: 0, "hub.quarantine": 0 }, // newest seq applied, per kind
    synced: false,         // alarms read from the archive since the last snapshot
    syncing: false,
    resync: false,
    pending: [],          // alarm messages received while reading the archive
    alarms: new Map(),    // key -> {message, seq}, at most MAX_ALARMS
    omitted: 0,
    cams: new Map(),      // camera id -> {id, fig, img, time, url, loading, dirty, offline}
    node: null,
  };
}

function showWall() {
  $("login-view").hidden = true;
  $("wall-view").hidden = false;
  $("who").textContent = `用户 ${state.user || ""}`;
  $("who").hidden = $("logout").hidden = false;
  connect();
}

// Make the tiles match a patrol-snapshot: new courtrooms get a tile, removed ones lose it.
function applySnapshot(courtrooms) {
  const wall = $("wall");
  const ids = new Set(courtrooms.map((info) => info.id));
  for (const room of [...state.rooms.values()]) {
    if (ids.has(room.id)) continue;
    dropRoom(room);
    room.node.remove();
    state.rooms.delete(room.id);
  }
  for (const info of courtrooms) {
    let room = state.rooms.get(info.id);
    if (!room) {
      room = newRoom(info);
      state.rooms.set(room.id, room);
      room.node = buildTile(room);
      loadCameras(room).catch(() => {});
    }
    room.name = info.name;
    room.node.querySelector(".tile-name").textContent = room.name;
    room.node.setAttribute("aria-label", room.name);
    room.hearing = info.hearing;
    room.hearingState = info.hearing_state || null;
    room.compliance = info.compliance || null;
    applyStatus(room, info.status);
    wall.append(room.node); // keeps the snapshot's order
    room.synced = false;
    syncAlarms(room); // also fills what was missed while disconnected
    renderRoom(room);
  }
  $("wall-empty").hidden = state.rooms.size > 0;
}

function dropRoom(room) {
  for (const cam of room.cams.values()) if (cam.url) URL.revokeObjectURL(cam.url);
  room.cams.clear();
}

async function loadCameras(room) {
  const cameras = await limited(async () => {
    const response = await api(roomPath(room, "/cameras"));
    return response.ok ? response.json() : [];
  });
  if (state.rooms.get(room.id) !== room) return;
  for (const { camera } of cameras) refreshThumb(room, ensureCam(room, camera));
}

// ---- the live socket -------------------------------------------------------

function connect() {
  if (!state.token || state.ws) return;
  clearTimeout(state.retryTimer);
  const ws = new WebSocket(liveUrl(state.token));
  state.ws = ws;
  state.live = false;
  ws.onopen = () => ws.send(JSON.stringify({ type: "patrol" }));
  ws.onmessage = (event) => handle(JSON.parse(event.data));
  ws.onclose = (event) => {
    if (state.ws !== ws) return;
    state.ws = null;
    state.live = false;
    renderConn();
    if (event.code === 4401) return logout("登录已过期，请重新登录 · Session expired");
    if (event.code === 4403) return logout("巡查仅限巡查员和管理员 · Patrol is for supervisors");
    scheduleReconnect();
  };
  renderConn();
}

function disconnect() {
  clearTimeout(state.retryTimer);
  state.live = false;
  if (state.ws) {
    const ws = state.ws;
    state.ws = null;
    ws.close(1000);
  }
}

function scheduleReconnect() {
  const delay = reconnectDelay(state.retry);
  state.retry = Math.min(state.retry + 1, 8);
  state.retryTimer = setTimeout(connect, delay);
}

function handle(msg) {
  if (msg.type === "patrol-snapshot") {
    state.retry = 0;
    state.live = true;
    applySnapshot(msg.courtrooms);
    renderConn();
    return;
  }
  const room = state.rooms.get(msg.courtroom);
  if (!room) return;
  if (msg.type === "hearing") {
    const current = room.hearing;
    if (current && msg.hearing.id !== current.id && msg.hearing.closed_at) return; // older one
    room.hearing = msg.hearing;
  } else if (msg.type === "hearing_state") {
    room.hearingState = msg.hearing_state;
  } else if (msg.type === "compliance") {
    room.compliance = msg;
  } else if (msg.type === "status") {
    applyStatus(room, msg.status);
  } else if (msg.type === "thumbnail") {
    const cam = ensureCam(room, msg.camera);
    cam.time = msg.time;
    refreshThumb(room, cam);
  } else if (msg.type === "alarm") {
    if (!room.synced) {
      if (room.pending.length >= MAX_PENDING) {
        room.pending = [];
        room.resync = true; // they are in the archive: read it again afterwards
      } else room.pending.push(msg);
    } else applyAlarmMessage(room, msg);
  } else {
    return; // not a patrol message
  }
  renderRoom(room);
}

function applyStatus(room, status) {
  if (!status) return;
  room.online = status.online;
  room.report = status.report || {};
}

// ---- alarms ----------------------------------------------------------------

// What one alarm event changes: {key, raised, message} or null, plus {camera,
// cameraState} for a camera's offline alarm. Every av.alarm and camera body the
// hub sends is one shape, courtroom_core.wire.Alarm {kind, active, severity,
// source, subject?, role?, hearing_id?, time?, since?, message, detail?} (the
// hub maps archived older shapes), except a camera gap, which is no alarm.
function alarmChange(kind, body) {
  if (kind === "hub.quarantine") {
    // An event the hub could not archive (kept raw, acknowledged): stays until
    // crowded out by newer alarms; an administrator reads the quarantine.
    return { key: `hub/quarantine/${body.quarantine_id}`, raised: true, message: body.message };
  }
  if (body.type === "gap" || !body.source) return null; // for the recording's manifest
  const change = {
    key: `${body.source}/${body.subject ?? ""}/${body.kind}`,
    raised: body.active === true,
    message: body.message || body.kind,
  };
  if (body.source === "camera" && body.kind === "offline" && body.subject) {
    change.camera = body.subject;
    change.cameraState = body.active ? "offline" : "online";
  }
  return change;
}

function applyEvent(room, kind, seq, body) {
  if (seq <= room.lastSeq[kind]) return; // already applied (replay and live overlap)
  room.lastSeq[kind] = seq;
  const change = alarmChange(kind, body || {});
  if (!change) return;
  if (change.camera) {
    const cam = ensureCam(room, change.camera);
    cam.offline = change.cameraState === "offline";
  }
  if (change.raised === true) {
    room.alarms.delete(change.key);
    room.alarms.set(change.key, { message: change.message, seq });
    if (room.alarms.size > MAX_ALARMS) {
      // Drop the oldest by seq (replay applies one kind after the other, so
      // insertion order is not age).
      const [oldest] = [...room.alarms].reduce((a, b) => (b[1].seq < a[1].seq ? b : a));
      room.alarms.delete(oldest);
      room.omitted += 1;
    }
  } else if (change.raised === false) {
    room.alarms.delete(change.key);
  }
}

function applyAlarmMessage(room, msg) {
  applyEvent(room, msg.kind, msg.seq, msg.body);
}

// Rebuild a courtroom's alarms and camera states from its newest events of each
// kind, given newest first: the newest event of a key says whether it is raised.
function rebuildAlarms(room, recent) {
  const decided = new Set();
  const cameraStates = new Map();
  const raised = [];
  for (const kind of ALARM_KINDS) {
    const events = recent[kind];
    room.lastSeq[kind] = events.length ? events[0].seq : 0;
    for (const event of events) {
      const change = alarmChange(kind, event.body || {});
      if (!change) continue;
      if (change.camera && !cameraStates.has(change.camera)) {
        cameraStates.set(change.camera, change.cameraState);
      }
      if (change.raised === undefined || decided.has(change.key)) continue;
      decided.add(change.key);
      if (change.raised) raised.push([change.key, { message: change.message, seq: event.seq }]);
    }
  }
  raised.sort((a, b) => b[1].seq - a[1].seq);
  room.alarms = new Map(raised.slice(0, MAX_ALARMS));
  room.omitted = Math.max(0, raised.length - MAX_ALARMS);
  for (const camera of cameraStates.keys()) ensureCam(room, camera);
  for (const cam of room.cams.values()) cam.offline = cameraStates.get(cam.id) === "offline";
}

async function recentEvents(room, kind) {
  const query = `?kind=${encodeURIComponent(kind)}&order=desc&limit=${RECENT_EVENTS}`;
  return limited(async () => {
    const response = await api(roomPath(room, `/events${query}`));
    if (response.status === 404) return []; // not in the archive (yet)
    if (!response.ok) throw new Error(`events: HTTP ${response.status}`);
    return response.json();
  });
}

async function syncAlarms(room) {
  if (room.syncing) {
    room.resync = true;
    return;
  }
  room.syncing = true;
  const current = () => state.rooms.get(room.id) === room;
  try {
    do {
      room.resync = false;
      const recent = {};
      for (const kind of ALARM_KINDS) recent[kind] = await recentEvents(room, kind);
      if (!current()) return;
      rebuildAlarms(room, recent);
      const pending = room.pending;
      room.pending = [];
      for (const msg of pending) applyAlarmMessage(room, msg); // older seqs are skipped
    } while (room.resync && current());
    room.synced = true;
  } catch {
    // The hub did not answer: live alarms keep queueing until a read succeeds.
    setTimeout(() => current() && state.live && !room.synced && syncAlarms(room), SYNC_RETRY_MS);
  } finally {
    room.syncing = false;
  }
  renderRoom(room);
  renderConn();
}

// ---- pictures --------------------------------------------------------------

function ensureCam(room, id) {
  let cam = room.cams.get(id);
  if (cam) return cam;
  const fig = el("figure", "cam");
  fig.dataset.camera = id;
  const img = el("img");
  img.alt = `摄像机 ${id} · camera ${id}`;
  const caption = el("figcaption");
  caption.append(el("span", "cam-name", id), el("span", "cam-time", ""));
  fig.append(img, el("div", "cam-none", "暂无画面 · No picture"), el("div", "cam-down", "离线 · Offline"), caption);
  cam = { id, fig, img, time: null, url: null, loading: false, dirty: false, offline: false };
  room.cams.set(id, cam);
  const list = room.node.querySelector(".cams");
  const after = [...list.children].find((node) => node.dataset.camera > id);
  list.insertBefore(fig, after || null);
  return cam;
}

async function refreshThumb(room, cam) {
  if (document.hidden || cam.loading) {
    cam.dirty = true;
    return;
  }
  cam.loading = true;
  try {
    do {
      cam.dirty = false;
      const response = await api(roomPath(room, `/cameras/${encodeURIComponent(cam.id)}/thumbnail`));
      if (!response.ok) break; // 404: no picture since the hub started
      const blob = await response.blob();
      if (!room.cams.has(cam.id)) break; // logged out meanwhile
      const old = cam.url;
      cam.url = URL.createObjectURL(blob);
      cam.img.src = cam.url;
      const time = Number(response.headers.get("x-hearing-time"));
      if (Number.isFinite(time)) cam.time = time;
      try {
        await cam.img.decode();
      } catch {
        // a broken picture: still drop the old one
      }
      if (old) URL.revokeObjectURL(old);
      cam.fig.classList.add("has-picture");
      renderCam(cam);
    } while (cam.dirty && !document.hidden);
  } catch {
    // Hub unreachable: the socket's reconnect brings fresh notices.
  } finally {
    cam.loading = false;
  }
}

function refreshVisible() {
  if (document.hidden) return;
  for (const room of state.rooms.values()) {
    for (const cam of room.cams.values()) if (cam.dirty) refreshThumb(room, cam);
  }
}

// ---- rendering -------------------------------------------------------------

function buildTile(room) {
  const tile = el("article", "tile");
  tile.dataset.room = room.id;
  tile.setAttribute("aria-label", room.name);
  const head = el("header", "tile-head");
  head.append(el("span", "tile-name", room.name), el("span", "badge tile-online"));
  const hearing = el("div", "tile-hearing");
  hearing.append(el("span", "tile-title"), el("span", "state-pill tile-state"));
  const alarms = el("ul", "alarms");
  alarms.setAttribute("aria-live", "polite");
  tile.append(
    head,
    hearing,
    el("div", "tile-agent"),
    el("ol", "lights tile-lights"),
    el("ul", "tile-faults"),
    el("div", "cams"),
    alarms,
    el("p", "alarm-omitted"),
  );
  return tile;
}

function renderRoom(room) {
  const tile = room.node;
  if (!tile) return;
  const q = (sel) => tile.querySelector(sel);
  const badge = q(".tile-online");
  badge.className = room.online ? "badge tile-online online" : "badge tile-online";
  badge.textContent = room.online ? "在线 Online" : "离线 Offline";
  tile.classList.toggle("tile-down", !room.online);

  const hearing = room.hearing;
  const hs = room.hearingState || { state: hearing && !hearing.closed_at ? "open" : "idle" };
  const pill = q(".tile-state");
  const [zh, en] = HEARING_STATES[hs.state] || [hs.state, ""];
  const reason = hs.state === "recess" ? RECESS_REASONS[hs.reason] : undefined;
  pill.className = `state-pill tile-state state-${hs.state}`;
  pill.dataset.state = hs.state;
  pill.textContent = reason ? `${zh} · ${reason}` : `${zh} ${en}`;
  pill.title = reason ? `${en} · ${hs.reason}` : en;
  pill.hidden = false;
  let title = "无庭审 · No hearing";
  if (hs.state !== "idle" && hearing && (!hs.hearing_id || hearing.id === hs.hearing_id)) {
    title = hearing.title || hearing.id;
  } else if (hs.state !== "idle" && hs.hearing_id) title = hs.hearing_id; // not archived yet
  q(".tile-title").textContent = title;
  q(".tile-agent").textContent = agentLine(room);
  const lights = q(".tile-lights");
  lights.hidden = !room.compliance;
  if (room.compliance) renderLights(lights, room.compliance, false);
  const open = room.compliance ? room.compliance.open_incidents : 0;
  lights.title = open ? `未结事件 ${open} · ${open} open incident(s)` : "";
  renderFaults(q(".tile-faults"), room.compliance);

  for (const cam of room.cams.values()) renderCam(cam);
  const offline = [...room.cams.values()].some((cam) => cam.offline);
  tile.classList.toggle("tile-cam-offline", offline);

  const list = q(".alarms");
  const items = [];
  for (const [key, alarm] of [...room.alarms].sort((a, b) => b[1].seq - a[1].seq)) {
    const [zh, en] = splitMessage(alarm.message);
    const li = el("li", "alarm raised");
    li.dataset.key = key;
    li.dataset.seq = alarm.seq;
    li.append(el("span", "alarm-zh", zh));
    if (en) li.append(el("small", "alarm-en", en));
    items.push(li);
  }
  list.replaceChildren(...items);
  tile.classList.toggle("tile-alarm", room.alarms.size > 0);
  const omitted = q(".alarm-omitted");
  omitted.hidden = room.omitted === 0;
  omitted.textContent = `已省略 ${room.omitted} 条较早告警 · ${room.omitted} older alarms omitted`;
}

// Under the lights, one line per light that is not green (red first): what is wrong.
function renderFaults(list, message) {
  const items = [];
  const lights = (message && message.lights) || {};
  for (const status of ["red", "amber"]) {
    for (const [part, zh] of FIVE_SYNC) {
      const light = lights[part];
      if (!light || light.status !== status) continue;
      const li = el("li", `tile-fault fault-${status}`);
      li.dataset.part = part;
      li.title = light.summary;
      li.append(el("b", "", zh), splitMessage(light.summary)[0]);
      items.push(li);
    }
  }
  list.replaceChildren(...items);
  list.hidden = items.length === 0;
}

function renderCam(cam) {
  cam.fig.classList.toggle("cam-offline", cam.offline);
  cam.fig.querySelector(".cam-time").textContent = cam.time === null ? "" : clock(cam.time);
}

function agentLine(room) {
  if (!room.online) return "录音终端离线 · Agent offline";
  const report = room.report || {};
  const parts = [];
  if (report.state) parts.push(AGENT_STATES[report.state] || report.state);
  if (report.recording && report.recording.recording === false) parts.push("未在录音 Not recording");
  if (typeof report.lag === "number") parts.push(`转写延迟 ${report.lag.toFixed(1)} s`);
  return parts.length ? parts.join(" · ") : "录音终端在线 · Agent online";
}

function renderConn() {
  const rooms = [...state.rooms.values()];
  const synced = rooms.filter((room) => room.synced).length;
  let kind = "idle";
  let text = "未连接 · Offline";
  if (state.live && synced === rooms.length) [kind, text] = ["live", "已连接 · Live"];
  else if (state.live) [kind, text] = ["wait", `同步告警 ${synced}/${rooms.length} · Loading alarms`];
  else if (state.token && !$("wall-view").hidden) [kind, text] = ["down", "连接中 · Connecting"];
  $("conn").className = `conn conn-${kind}`;
  $("conn-text").textContent = text;
}

// ---- start -----------------------------------------------------------------

function start() {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", () => {
    revokeSession(state.token);
    logout();
  });
  document.addEventListener("visibilitychange", refreshVisible);
  if (state.token) showWall();
  else $("login-view").hidden = false;
}

document.addEventListener("DOMContentLoaded", start);
