// Clerk page: log in, pick a courtroom, follow its live transcript.
// Vanilla JS, no build step; session.js (loaded first) holds what the patrol
// wall shares. The hub's live protocol is described in hub/live.py.
"use strict";

const ROOM_KEY = "courtroom.room";
const EARLIER_PAGE = 500; // segments per "load earlier" request
const ROLE_LABELS = {
  judge: "审判长", presiding_judge: "审判长", assessor: "审判员", juror: "陪审员",
  clerk: "书记员", plaintiff: "原告", defendant: "被告", prosecutor: "公诉人",
  defense: "辩护人", lawyer: "代理人", witness: "证人", interpreter: "翻译",
};
// The hearing lifecycle (courtroom_core/hearing.py): labels and which orders each state allows.
const HEARING_STATES = { idle: ["空闲", "Idle"], open: ["庭审中", "In session"], recess: ["休庭中", "In recess"] };
const REASONS = {
  recess: ["休庭", "recess"],
  "closed-evidence": ["不公开举证质证", "evidence examined in private"],
  mediation: ["调解", "mediation"],
};
const ALLOWED = { idle: ["open"], open: ["recess", "close"], recess: ["resume", "close"] };
const ORDER_ROLES = ["clerk", "judge"]; // hub/users.py ROLE_RIGHTS: orders_hearings
const ROLE_NAMES = { clerk: "书记员", judge: "法官", supervisor: "巡查员", admin: "管理员" };
// What a refused order's HTTP status means, Chinese first.
const ANSWERS = {
  409: ["法庭终端拒绝了该操作", "The courtroom agent refused the order"],
  502: ["法庭终端执行失败", "The courtroom agent failed to carry it out"],
  503: ["指令未发送", "The order was not sent"],
  504: ["法庭终端未及时应答", "The courtroom agent did not answer in time"],
  429: ["指令过多，请稍后再试", "Too many orders at once, retry shortly"],
  403: ["无权操作此法庭的庭审", "Not allowed to order this hearing"],
  422: ["请求内容有误", "The order is not valid"],
};
const ROLE_COLOURS = [
  ["#e5e9f3", "#1d2b4f"], ["#f4e7e4", "#8a2f24"], ["#e4f0ea", "#265c3f"],
  ["#f3ecdc", "#6f5316"], ["#ece6f3", "#4b3670"], ["#e2eff2", "#22555f"],
];

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  user: sessionStorage.getItem(USER_KEY),
  room: sessionStorage.getItem(ROOM_KEY),
  rooms: [],
  hearing: null,        // {id, title, opened_at, closed_at}
  hearingState: null,   // {state, reason, hearing_id} as the hub follows it
  role: null,           // from /api/me: only clerk and judge get the orders
  ordering: false,      // an order awaits the agent's answer
  online: false,        // the courtroom's agent is connected
  seqs: new Map(),      // "site/seq" -> <li>, so a segment is shown once
  partials: new Map(),  // "site/channel/role" -> <li>
  ws: null,
  retry: 0,
  retryTimer: null,
  follow: true,
  compliance: null,     // the last "compliance" message of the hearing shown (五同步)
  incidents: new Map(), // incident id -> its <li> (kept so a half-typed explanation survives updates)
};

// ---- helpers ---------------------------------------------------------------

function roleLabel(role) {
  return ROLE_LABELS[String(role).toLowerCase()] || role || "—";
}

function roleColour(role) {
  let h = 0;
  for (const c of String(role)) h = (h * 31 + c.codePointAt(0)) >>> 0;
  return ROLE_COLOURS[h % ROLE_COLOURS.length];
}

function wallTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString("zh-CN", { hour12: false });
}

function setConn(kind, text) {
  $("conn").className = `conn conn-${kind}`;
  $("conn-text").textContent = text;
}

function api(path, options = {}) {
  return authFetch(state.token, path, options, logout);
}

// ---- login -----------------------------------------------------------------

function login(event) {
  return submitLogin(event, async (token, user) => {
    state.token = token;
    state.user = user;
    await showApp();
  });
}

function logout(message) {
  state.token = null;
  closeSocket();
  $("app-view").hidden = true;
  setConn("idle", "未连接 · Offline");
  forgetSession(message);
}

// ---- courtrooms ------------------------------------------------------------

async function showApp() {
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  $("who").textContent = `书记员 ${state.user || ""}`;
  $("who").hidden = $("logout").hidden = false;
  try {
    const me = await (await api("/api/me")).json();
    state.role = me.role;
    $("who").textContent = `${ROLE_NAMES[me.role] || me.role} ${state.user || ""}`;
  } catch {
    state.role = null;
  }
  await loadRooms();
  if (state.room && state.rooms.some((r) => r.id === state.room)) selectRoom(state.room);
  else if (state.rooms.length === 1) selectRoom(state.rooms[0].id);
}

async function loadRooms() {
  const response = await api("/api/courtrooms");
  state.rooms = await response.json();
  renderRooms();
}

function renderRooms() {
  const list = $("courtrooms");
  list.replaceChildren();
  for (const room of state.rooms) {
    const button = el("button");
    button.type = "button";
    button.dataset.room = room.id;
    button.setAttribute("aria-current", String(room.id === state.room));
    const name = el("div", "room-name", room.name);
    name.append(el("span", room.online ? "badge online" : "badge", room.online ? "在线" : "离线"));
    const hs = room.hearing_state || { state: "idle" };
    const sub = el("div", "room-sub");
    sub.append(el("span", `room-state hstate-${hs.state}`, stateLabel(hs)));
    if (room.hearing && hs.state !== "idle") sub.append(` ${room.hearing.title || room.hearing.id}`);
    button.append(name, sub);
    button.addEventListener("click", () => selectRoom(room.id));
    const item = el("li");
    item.append(button);
    list.append(item);
  }
}

function selectRoom(id) {
  state.room = id;
  sessionStorage.setItem(ROOM_KEY, id);
  renderRooms();
  clearTranscript();
  state.hearing = null;
  renderHearing(null);
  setCompliance(null);
  const room = state.rooms.find((r) => r.id === id);
  setHearingState(room ? room.hearing_state : null);
  showHearingError(null);
  if (state.ws && state.ws.readyState === WebSocket.OPEN) subscribe();
  else connect();
}

// ---- live socket -----------------------------------------------------------

function connect() {
  closeSocket();
  if (!state.token || !state.room) return;
  const ws = new WebSocket(liveUrl(state.token));
  state.ws = ws;
  setConn("wait", state.retry ? "重新连接中 · Reconnecting" : "连接中 · Connecting");
  ws.onopen = subscribe;
  ws.onmessage = (event) => handle(JSON.parse(event.data));
  ws.onclose = (event) => {
    if (state.ws !== ws) return;
    state.ws = null;
    if (event.code === 4401) return logout("登录已过期，请重新登录 · Session expired");
    if (event.code === 4404) return setConn("down", "无此法庭 · Unknown courtroom");
    if (event.code === 4403) return setConn("down", "无权访问此法庭 · Not your courtroom");
    scheduleReconnect();
  };
}

function closeSocket() {
  clearTimeout(state.retryTimer);
  if (state.ws) {
    const ws = state.ws;
    state.ws = null;
    ws.close(1000);
  }
}

function scheduleReconnect() {
  const delay = reconnectDelay(state.retry);
  state.retry = Math.min(state.retry + 1, 8);
  setConn("down", `已断开，${Math.ceil(delay / 1000)} 秒后重连 · Reconnecting`);
  state.retryTimer = setTimeout(connect, delay);
}

function subscribe() {
  if (state.ws && state.room) state.ws.send(JSON.stringify({ type: "subscribe", courtroom: state.room }));
}

function handle(msg) {
  if (msg.courtroom !== state.room) return;
  if (msg.type === "snapshot") {
    state.retry = 0;
    setConn("live", "已连接 · Live");
    if (!msg.hearing || !state.hearing || msg.hearing.id !== state.hearing.id) clearTranscript();
    clearPartials();
    state.hearing = msg.hearing;
    renderHearing(msg.hearing);
    for (const segment of msg.segments) addFinal(segment);
    // The snapshot holds only the newest segments; older ones on demand.
    $("earlier").hidden = !msg.more_before;
    renderStatus(msg.status);
    setHearingState(msg.hearing_state);
    setCompliance(msg.compliance);
    if (!msg.compliance && msg.hearing) loadCompliance(msg.hearing.id);
  } else if (msg.type === "compliance") {
    setCompliance(msg);
  } else if (msg.type === "hearing_state") {
    setHearingState(msg.hearing_state);
  } else if (msg.type === "hearing") {
    if (!state.hearing || msg.hearing.id !== state.hearing.id) {
      if (msg.hearing.closed_at) return; // an older hearing being closed
      clearTranscript();
      clearPartials();
    }
    state.hearing = msg.hearing;
    renderHearing(msg.hearing);
    updateRoom({ hearing: msg.hearing });
  } else if (msg.type === "final") {
    if (!state.hearing || msg.hearing_id !== state.hearing.id) return;
    dropPartial(msg.segment.channel, msg.segment.role, msg.segment.site);
    addFinal(msg.segment);
  } else if (msg.type === "partial") {
    if (!state.hearing || msg.hearing_id !== state.hearing.id) return;
    setPartial(msg);
  } else if (msg.type === "marker") {
    if (!state.hearing || msg.hearing_id !== state.hearing.id) return;
    addMarker(msg);
  } else if (msg.type === "status") {
    renderStatus(msg.status);
    updateRoom({ online: msg.status.online });
  } else if (msg.type === "alarm" && msg.kind === "hub.quarantine") {
    // The hub could not archive one of this courtroom's events (kept aside).
    const notice = $("hub-alarm");
    notice.textContent = `⚠ ${msg.body.message}`;
    notice.hidden = false;
  }
  $("empty").hidden = state.seqs.size + state.partials.size > 0;
  if (state.follow) scrollToEnd();
}

function updateRoom(fields) {
  const room = state.rooms.find((r) => r.id === state.room);
  if (room) {
    Object.assign(room, fields);
    renderRooms();
  }
}

// ---- transcript ------------------------------------------------------------

// A line of a remote site that joined this courtroom's hearing (远程参与方)
// carries the site's name before its text; this courtroom's own lines do not.
function segmentRow(cls, start, role, text, site, siteName) {
  const li = el("li", cls);
  const [bg, fg] = roleColour(role);
  const badge = el("span", "role", roleLabel(role));
  badge.style.setProperty("--role-bg", bg);
  badge.style.setProperty("--role-fg", fg);
  badge.title = role;
  const body = el("span", "text", text);
  if (site && site !== state.room) {
    const label = el("span", "site", siteName || site);
    label.title = site;
    body.prepend(label);
  }
  li.append(el("span", "t", clock(start)), badge, body);
  return li;
}

function addFinal(segment) {
  const site = segment.site || state.room;
  const key = `${site}/${segment.seq}`;
  if (state.seqs.has(key)) return;
  const li = segmentRow("seg final", segment.start, segment.role, segment.text, site, segment.site_name);
  if (segment.confidence < 0.6) li.classList.add("low");
  li.dataset.seq = segment.seq;
  li.dataset.site = site;
  li.dataset.start = segment.start;
  const list = $("finals");
  // Keep hearing-clock order (start, seq, site); a final usually belongs at the end.
  let before = null;
  for (let node = list.lastElementChild; node; node = node.previousElementSibling) {
    const s = Number(node.dataset.start);
    const q = Number(node.dataset.seq);
    if (s < segment.start || (s === segment.start && (q < segment.seq
        || (q === segment.seq && node.dataset.site < site)))) break;
    before = node;
  }
  list.insertBefore(li, before);
  state.seqs.set(key, li);
}

// 举证 / 撤回: a marker line in the transcript at the hearing time it happened.
function addMarker(msg) {
  const presented = msg.kind === "evidence.presented";
  const text = presented
    ? `【举证 evidence presented】${msg.exhibit} ${msg.label && msg.label !== msg.exhibit ? msg.label : ""}`
    : `【撤回 evidence withdrawn】${msg.exhibit}`;
  const li = segmentRow("seg marker", msg.time, presented ? "举证" : "撤回", text.trim());
  li.dataset.start = msg.time;
  const list = $("finals");
  let before = null;
  for (let node = list.lastElementChild; node; node = node.previousElementSibling) {
    if (Number(node.dataset.start) <= msg.time) break;
    before = node;
  }
  list.insertBefore(li, before);
}

function setPartial(msg) {
  const key = `${msg.site || state.room}/${msg.channel}/${msg.role}`;
  const old = state.partials.get(key);
  if (!msg.text) return dropPartial(msg.channel, msg.role, msg.site);
  const li = segmentRow("seg partial", msg.start, msg.role, msg.text, msg.site, msg.site_name);
  li.dataset.key = key;
  if (old) old.replaceWith(li);
  else $("partials").append(li);
  state.partials.set(key, li);
}

function dropPartial(channel, role, site) {
  const key = `${site || state.room}/${channel}/${role}`;
  const li = state.partials.get(key);
  if (li) li.remove();
  state.partials.delete(key);
}

function clearPartials() {
  $("partials").replaceChildren();
  state.partials.clear();
}

// "加载更早的笔录 Load earlier": the page of segments before the oldest shown,
// from GET /api/hearings/{id}/transcript?before_seq=S&limit=N (transcript order).
async function loadEarlier() {
  const first = $("finals").firstElementChild;
  if (!state.hearing || !first) return;
  const button = $("earlier");
  const hearing = state.hearing.id;
  const scroller = $("scroller");
  const fromBottom = scroller.scrollHeight - scroller.scrollTop;
  button.disabled = true;
  try {
    const query = `before_seq=${encodeURIComponent(first.dataset.seq)}`
      + `&site=${encodeURIComponent(first.dataset.site)}&limit=${EARLIER_PAGE}`;
    const response = await api(`/api/hearings/${encodeURIComponent(hearing)}/transcript?${query}`);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const page = await response.json();
    if (!state.hearing || state.hearing.id !== hearing) return;
    const before = state.seqs.size;
    for (const segment of page) addFinal(segment);
    button.hidden = page.length < EARLIER_PAGE || state.seqs.size === before;
    scroller.scrollTop = scroller.scrollHeight - fromBottom; // keep the reader's place
  } catch (err) {
    button.title = `加载失败 · Failed: ${err.message}`;
  } finally {
    button.disabled = false;
  }
}

function clearTranscript() {
  $("earlier").hidden = true;
  $("hub-alarm").hidden = true;
  $("finals").replaceChildren();
  state.seqs.clear();
  clearPartials();
  $("empty").hidden = false;
}

function renderHearing(hearing) {
  const room = state.rooms.find((r) => r.id === state.room);
  const title = $("hearing-title");
  const meta = $("hearing-meta");
  if (!hearing) {
    title.textContent = room ? room.name : "请选择法庭";
    meta.textContent = room ? "当前无庭审 · No hearing in session" : "Select a courtroom";
    return;
  }
  title.textContent = `${room ? room.name + " · " : ""}${hearing.title || hearing.id}`;
  const parts = [`开庭 Opened ${wallTime(hearing.opened_at)}`];
  if (hearing.closed_at) parts.push(`闭庭 Closed ${wallTime(hearing.closed_at)}`);
  meta.textContent = parts.join(" · ");
}

// ---- hearing control ---------------------------------------------------------

function stateLabel(hs) {
  const [zh] = HEARING_STATES[hs.state] || [hs.state];
  const reason = hs.state === "recess" && REASONS[hs.reason] ? `（${REASONS[hs.reason][0]}）` : "";
  return zh + reason;
}

function setHearingState(hs) {
  state.hearingState = hs || { state: "idle", reason: null, hearing_id: null };
  updateRoom({ hearing_state: state.hearingState });
  renderControl();
}

function renderControl() {
  const box = $("hearing-control");
  box.hidden = !state.room;
  const hs = state.hearingState || { state: "idle" };
  const [zh, en] = HEARING_STATES[hs.state] || [hs.state, ""];
  const badge = $("hearing-state");
  badge.className = `hstate hstate-${hs.state}`;
  badge.dataset.state = hs.state;
  badge.replaceChildren(document.createTextNode(zh));
  if (hs.state === "recess" && REASONS[hs.reason]) {
    badge.append(document.createTextNode(` · ${REASONS[hs.reason][0]}`));
    badge.append(el("small", "", `${en} · ${REASONS[hs.reason][1]}`));
  } else badge.append(el("small", "", en));
  const orders = ORDER_ROLES.includes(state.role);
  $("hc-buttons").hidden = !orders;
  $("hc-note").hidden = orders;
  $("hc-busy").hidden = !state.ordering;
  $("hc-offline").hidden = !orders || state.online;
  $("hc-paused").hidden = hs.state !== "recess";
  const allowed = ALLOWED[hs.state] || [];
  const can = (action) => orders && !state.ordering && allowed.includes(action);
  $("hc-open").disabled = $("case-number").disabled = $("case-title").disabled = !can("open");
  $("hc-recess").disabled = $("recess-reason").disabled = !can("recess");
  // The inputs show only where they apply: the case before 开庭, the reason before 休庭.
  $("open-fields").hidden = !(orders && allowed.includes("open"));
  $("recess-fields").hidden = !(orders && allowed.includes("recess"));
  $("hc-resume").disabled = !can("resume");
  $("hc-close").disabled = !can("close");
  if (!can("close")) $("close-confirm").hidden = true;
  $("hc-close").hidden = !$("close-confirm").hidden;
  // 举证 only while the hearing is in session (the agent refuses it otherwise).
  $("evidence-form").hidden = !(orders && hs.state === "open");
  $("hc-present").disabled = $("hc-withdraw").disabled = $("hc-page").disabled = state.ordering;
}

function showHearingError(status, body) {
  const box = $("hearing-error");
  if (status === null) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const [zh, en] = ANSWERS[status] || ["操作失败", `Failed (HTTP ${status})`];
  let detail = "";
  if (body && typeof body.message === "string") detail = body.message;
  else if (body && typeof body.detail === "string") detail = body.detail;
  else if (body && Array.isArray(body.detail)) {
    detail = body.detail.map((p) => `${p.loc.slice(1).join(".")}: ${p.msg}`).join("; ");
  }
  box.replaceChildren(el("strong", "hc-error-zh", zh), el("span", "hc-error-en", en));
  if (detail) box.append(el("span", "hc-error-detail", detail));
  box.dataset.status = String(status);
  box.hidden = false;
}

// 举证 / 撤回: the hub forwards it to the agent (hub/evidence_api.py); the answer
// lists each screen of the evidence-display log, confirmed or failed.
async function evidence(action) {
  if (!state.room || state.ordering) return;
  const room = state.room;
  const exhibit = $("ev-exhibit").value.trim();
  if (!exhibit) {
    showHearingError(422, { detail: "请填写证据编号 · give the exhibit's number" });
    return;
  }
  const body = { action, exhibit };
  if (action === "page") {
    const page = parseInt($("ev-page").value, 10);
    if (page > 0) body.page = page;
  }
  if (action === "present") {
    const source = $("ev-source").value.trim();
    body[$("ev-kind").value] = source;
    const page = parseInt($("ev-page").value, 10);
    if ($("ev-kind").value === "file" && page > 0) body.page = page;
  }
  state.ordering = true;
  showHearingError(null);
  renderControl();
  try {
    const response = await api(`/api/courtrooms/${encodeURIComponent(room)}/evidence`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    let answer = null;
    try {
      answer = await response.json();
    } catch {
      answer = null;
    }
    if (state.room !== room) return;
    if (!response.ok) showHearingError(response.status, answer);
    const log = $("ev-log");
    const verb = { present: "举证 present", page: "翻页 page", withdraw: "撤回 withdraw" }[action];
    log.textContent = `${verb} ${exhibit}: ${response.ok ? "完成 done" : "未完成 not done"}`;
    log.hidden = false;
  } catch (err) {
    if (state.room === room && err.message !== "unauthorized") {
      showHearingError(0, { detail: `无法连接法庭中心 · hub unreachable (${err.message})` });
    }
  } finally {
    state.ordering = false;
    renderControl();
  }
}

// POST the order; the hub answers once the courtroom's agent has (hub/hearing_api.py).
async function order(body) {
  if (!state.room || state.ordering) return;
  const room = state.room;
  state.ordering = true;
  showHearingError(null);
  renderControl();
  try {
    const response = await api(`/api/courtrooms/${encodeURIComponent(room)}/hearing`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    let answer = null;
    try {
      answer = await response.json();
    } catch {
      answer = null;
    }
    if (state.room !== room) return;
    if (answer && answer.state) setHearingState(answer.state);
    if (!response.ok) showHearingError(response.status, answer);
    else if (body.action === "open") $("case-number").value = $("case-title").value = "";
  } catch (err) {
    if (state.room === room && err.message !== "unauthorized") {
      showHearingError(0, { detail: `无法连接法庭中心 · hub unreachable (${err.message})` });
    }
  } finally {
    state.ordering = false;
    renderControl();
  }
}

function startControl() {
  $("open-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const number = $("case-number").value.trim();
    if (!number) {
      showHearingError(422, { detail: "请填写案号 · enter the case number" });
      $("case-number").focus();
      return;
    }
    order({ action: "open", case: { number, title: $("case-title").value.trim() } });
  });
  $("hc-recess").addEventListener("click", () => order({ action: "recess", reason: $("recess-reason").value }));
  $("evidence-form").addEventListener("submit", (e) => {
    e.preventDefault();
    evidence("present");
  });
  $("hc-withdraw").addEventListener("click", () => evidence("withdraw"));
  $("hc-page").addEventListener("click", () => evidence("page"));
  $("hc-resume").addEventListener("click", () => order({ action: "resume" }));
  $("hc-close").addEventListener("click", () => {
    $("close-confirm").hidden = false;
    renderControl();
    $("hc-close-no").focus();
  });
  $("hc-close-no").addEventListener("click", () => {
    $("close-confirm").hidden = true;
    renderControl();
  });
  $("hc-close-yes").addEventListener("click", () => {
    $("close-confirm").hidden = true;
    order({ action: "close" });
  });
}

// ---- five lights and incidents (五同步) ------------------------------------------

// The hub has no live lights for this courtroom yet (it restarted): read the report.
async function loadCompliance(hearingId) {
  const room = state.room;
  try {
    const response = await api(`/api/hearings/${encodeURIComponent(hearingId)}/compliance`);
    if (!response.ok) return;
    const report = await response.json();
    if (state.room !== room || (state.compliance && state.compliance.hearing_id === hearingId)) return;
    setCompliance(lightsMessage(room, report));
  } catch {
    // the next live message brings the lights
  }
}

function setCompliance(message) {
  state.compliance = message || null;
  const box = $("five-sync");
  box.hidden = !message;
  if (!message) {
    $("incident-list").replaceChildren();
    state.incidents.clear();
    return;
  }
  renderLights($("lights"), message, true);
  const kind = $("fs-kind");
  kind.textContent = message.final ? "最终 · final" : "临时 · provisional";
  kind.className = message.final ? "fs-kind fs-final" : "fs-kind";
  renderIncidents(message.incidents || []);
}

const INCIDENT_STATES = { open: "待说明 · to explain", explained: "待签署 · to sign off", signed: "已签署 · signed" };

function renderIncidents(incidents) {
  const list = $("incident-list");
  const seen = new Set();
  for (const incident of incidents) {
    seen.add(incident.id);
    let li = state.incidents.get(incident.id);
    if (!li) {
      li = buildIncident(incident.id);
      state.incidents.set(incident.id, li);
    }
    fillIncident(li, incident);
    list.append(li); // keeps the hub's order
  }
  for (const [id, li] of state.incidents) {
    if (seen.has(id)) continue;
    li.remove();
    state.incidents.delete(id);
  }
  $("incidents").hidden = seen.size === 0;
}

function buildIncident(id) {
  const li = el("li", "incident");
  li.dataset.id = id;
  const head = el("div", "inc-head");
  head.append(el("span", "inc-state"), el("span", "inc-msg"), el("span", "inc-src"));
  const explanation = el("p", "inc-expl");
  const form = el("form", "inc-form");
  const text = el("textarea");
  text.maxLength = 4000;
  text.placeholder = "书面说明（故障原因与处理）· Written explanation: what failed and what was done";
  text.setAttribute("aria-label", "书面说明 Written explanation");
  const actions = el("div", "inc-actions");
  const explain = el("button", "hc-button inc-explain");
  explain.type = "submit";
  explain.append("提交说明 ", el("small", "", "Explain"));
  const sign = el("button", "hc-button hc-go inc-sign");
  sign.type = "button";
  sign.append("审判长签署 ", el("small", "", "Sign off"));
  actions.append(explain, sign);
  form.append(text, actions);
  const error = el("p", "inc-error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  li.append(head, explanation, form, error);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = text.value.trim();
    if (!value) {
      showIncidentError(li, "请填写书面说明 · enter the explanation");
      return;
    }
    paperwork(li, "explanation", { text: value });
  });
  sign.addEventListener("click", () => paperwork(li, "sign", null));
  return li;
}

function fillIncident(li, incident) {
  li.dataset.state = incident.state;
  const q = (sel) => li.querySelector(sel);
  q(".inc-state").textContent = INCIDENT_STATES[incident.state] || incident.state;
  q(".inc-msg").textContent = incident.message;
  q(".inc-src").textContent = `${incident.source} · ${clock(incident.time)}`;
  const explained = incident.state !== "open" && incident.explanation;
  q(".inc-expl").hidden = !explained;
  q(".inc-expl").textContent = explained ? `说明 Explanation（${incident.explained_by}）：${incident.explanation}` : "";
  const writer = ORDER_ROLES.includes(state.role); // clerk or judge of this courtroom
  q(".inc-form").hidden = !writer || incident.state === "signed";
  q(".inc-explain").hidden = incident.state !== "open";
  q("textarea").hidden = incident.state !== "open";
  q(".inc-sign").hidden = !(state.role === "judge" && incident.state === "explained");
}

function showIncidentError(li, text) {
  const box = li.querySelector(".inc-error");
  box.textContent = text || "";
  box.hidden = !text;
}

// POST the explanation or the sign-off (hub/compliance_api.py); the live lights follow.
async function paperwork(li, what, body) {
  const hearing = state.compliance && state.compliance.hearing_id;
  if (!hearing) return;
  const buttons = li.querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });
  showIncidentError(li, null);
  try {
    const path = `/api/hearings/${encodeURIComponent(hearing)}/incidents/${encodeURIComponent(li.dataset.id)}/${what}`;
    const options = { method: "POST" };
    if (body) {
      options.headers = { "Content-Type": "application/json" };
      options.body = JSON.stringify(body);
    }
    const response = await api(path, options);
    const answer = await response.json().catch(() => null);
    if (!response.ok) {
      let detail = answer && answer.detail;
      if (Array.isArray(detail)) detail = detail.map((p) => p.msg).join("; ");
      showIncidentError(li, `操作失败 · Failed (HTTP ${response.status})${detail ? `: ${detail}` : ""}`);
      return;
    }
    if (what === "explanation") li.querySelector("textarea").value = "";
    if (answer.state === "signed") {
      li.remove();
      state.incidents.delete(answer.id);
      $("incidents").hidden = state.incidents.size === 0;
    } else fillIncident(li, answer);
  } catch (err) {
    if (err.message !== "unauthorized") showIncidentError(li, `无法连接法庭中心 · hub unreachable (${err.message})`);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

function renderStatus(status) {
  if (!status) return;
  state.online = status.online;
  renderControl();
  const seen = status.last_seen ? new Date(status.last_seen).toLocaleTimeString("zh-CN", { hour12: false }) : "—";
  $("agent-state").textContent = status.online
    ? `录音终端在线 · Agent online`
    : `录音终端离线 · Agent offline（最后 ${seen}）`;
}

function scrollToEnd() {
  const scroller = $("scroller");
  scroller.scrollTop = scroller.scrollHeight;
}

// ---- start -----------------------------------------------------------------

function start() {
  $("login-form").addEventListener("submit", login);
  startControl();
  $("logout").addEventListener("click", () => {
    revokeSession(state.token);
    logout();
  });
  const scroller = $("scroller");
  scroller.addEventListener("scroll", () => {
    state.follow = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 60;
    $("jump").hidden = state.follow;
  });
  $("earlier").addEventListener("click", () => loadEarlier());
  $("jump").addEventListener("click", () => {
    state.follow = true;
    scrollToEnd();
  });
  setInterval(() => state.token && !$("app-view").hidden && loadRooms().catch(() => {}), 30000);
  if (state.token) showApp().catch(() => logout());
  else $("login-view").hidden = false;
}

document.addEventListener("DOMContentLoaded", start);
