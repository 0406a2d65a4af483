// Admin page 系统管理: users (add, password, role, courtrooms, disable/enable),
// courtroom agent tokens (rotate, shown once) and the latest audit records.
// Uses session.js for the login session; every call is an admin-only /api route.
"use strict";

const ROLES = [
  ["clerk", "书记员 Clerk"],
  ["judge", "审判员 Judge"],
  ["supervisor", "巡查 Supervisor"],
  ["admin", "管理员 Admin"],
];

const state = { token: sessionStorage.getItem(TOKEN_KEY), user: sessionStorage.getItem(USER_KEY) };

function api(path, options = {}) {
  return authFetch(state.token, path, options, logout);
}

async function send(method, path, body) {
  const response = await api(path, {
    method,
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    let detail = `HTTP ${response.status}`;
    try {
      const payload = await response.json();
      detail = typeof payload.detail === "string" ? payload.detail : JSON.stringify(payload.detail);
    } catch (err) {
      /* not JSON */
    }
    throw new Error(detail);
  }
  return response.status === 204 ? null : response.json();
}

function notify(text, bad) {
  const notice = $("notice");
  notice.textContent = text;
  notice.className = bad ? "notice bad" : "notice";
  notice.hidden = false;
}

function courtroomList(text) {
  return text.split(/[\s,，]+/).filter(Boolean);
}

function roleSelect(value) {
  const select = el("select");
  for (const [role, label] of ROLES) {
    const option = el("option", "", label);
    option.value = role;
    option.selected = role === value;
    select.append(option);
  }
  return select;
}

function button(text, cls, onClick) {
  const node = el("button", `small-button ${cls || ""}`, text);
  node.type = "button";
  node.addEventListener("click", () => onClick().catch((err) => notify(err.message, true)));
  return node;
}

function cell(child) {
  const td = el("td");
  td.append(child);
  return td;
}

// ---- users -------------------------------------------------------------------

function userRow(user) {
  const row = el("tr");
  row.dataset.user = user.username;
  row.append(el("td", "", user.username));
  const role = roleSelect(user.role);
  role.setAttribute("aria-label", `${user.username} 角色 role`);
  row.append(cell(role));
  const rooms = el("input", "rooms-input");
  rooms.value = user.courtrooms.join(", ");
  rooms.placeholder = "全部 all";
  rooms.setAttribute("aria-label", `${user.username} 法庭 courtrooms`);
  row.append(cell(rooms));
  row.append(
    el("td", user.enabled ? "state-on" : "state-off", user.enabled ? "启用 Enabled" : "停用 Disabled"),
  );
  const password = el("input", "pw-input");
  password.type = "password";
  password.autocomplete = "new-password";
  password.placeholder = "新密码 new password";
  password.setAttribute("aria-label", `${user.username} 新密码 new password`);
  const actions = el("div", "actions");
  actions.append(
    button("保存 Save", "save", async () => {
      await send("PATCH", `/api/users/${encodeURIComponent(user.username)}`, {
        role: role.value,
        courtrooms: courtroomList(rooms.value),
      });
      notify(`已保存 ${user.username} · Saved`);
      await refresh();
    }),
    password,
    button("设置密码 Set password", "set-password", async () => {
      await send("PATCH", `/api/users/${encodeURIComponent(user.username)}`, {
        password: password.value,
      });
      password.value = "";
      notify(`已设置 ${user.username} 的密码 · Password set`);
    }),
    button(user.enabled ? "停用 Disable" : "启用 Enable", user.enabled ? "toggle danger" : "toggle", async () => {
      await send("PATCH", `/api/users/${encodeURIComponent(user.username)}`, { enabled: !user.enabled });
      notify(`${user.enabled ? "已停用" : "已启用"} ${user.username} · ${user.enabled ? "Disabled" : "Enabled"}`);
      await refresh();
    }),
  );
  if (user.username === state.user) {
    // The hub refuses (409) to let an admin disable or demote itself.
    actions.querySelector(".toggle").disabled = true;
    role.disabled = true;
  }
  row.append(cell(actions));
  return row;
}

async function loadUsers() {
  const users = await send("GET", "/api/users");
  $("users").replaceChildren(...users.map(userRow));
}

async function addUser(event) {
  event.preventDefault();
  try {
    const user = await send("POST", "/api/users", {
      username: $("new-username").value.trim(),
      password: $("new-password").value,
      role: $("new-role").value,
      courtrooms: courtroomList($("new-courtrooms").value),
    });
    $("add-form").reset();
    notify(`已新增 ${user.username} · User added`);
    await refresh();
  } catch (err) {
    notify(err.message, true);
  }
}

// ---- agent tokens ------------------------------------------------------------

async function loadRooms() {
  const rooms = await send("GET", "/api/courtrooms");
  $("rooms").replaceChildren(
    ...rooms.map((room) => {
      const item = el("li");
      item.dataset.room = room.id;
      const name = el("span", "", `${room.name} `);
      name.append(el("small", "", `${room.id} · ${room.online ? "在线 online" : "离线 offline"}`));
      item.append(
        name,
        button("更换令牌 Rotate token", "rotate", async () => {
          if (!window.confirm(`更换 ${room.id} 的代理令牌？Rotate the agent token of ${room.id}?`)) return;
          const body = await send("POST", `/api/courtrooms/${encodeURIComponent(room.id)}/agent-token`);
          $("new-token").textContent = `${body.courtroom} 新令牌 new token: ${body.token}`;
          $("new-token").hidden = false;
        }),
      );
      return item;
    }),
  );
}

// ---- audit -------------------------------------------------------------------

// What each audit action means to an administrator (the code stays visible).
const ACTION_NAMES = {
  "login.ok": "登录",
  "login.failed": "登录失败",
  logout: "退出",
  "live.open": "打开实时笔录",
  "archive.read": "查阅笔录",
  "user.create": "新增用户",
  "user.update": "修改用户",
  "agent_token.rotate": "更换法庭令牌",
  "access.refused": "拒绝访问",
  "hearing.command": "庭审指令",
  "audit.dropped": "审计记录溢出",
};

async function loadAudit() {
  const rows = await send("GET", "/api/audit?limit=50");
  $("audit").replaceChildren(
    ...rows.map((record) => {
      const row = el("tr");
      const when = new Date(record.at).toLocaleString("zh-CN", { hour12: false });
      const action = el("td", "", ACTION_NAMES[record.action] || record.action);
      action.append(el("small", "code", ` ${record.action}`));
      row.append(el("td", "", when), action);
      for (const text of [record.actor || "—", record.target, record.client, record.status ?? ""]) {
        row.append(el("td", "", String(text)));
      }
      return row;
    }),
  );
}

async function refresh() {
  await Promise.all([loadUsers(), loadRooms(), loadAudit()]);
}

// ---- session -----------------------------------------------------------------

async function showAdmin() {
  const me = await send("GET", "/api/me");
  if (me.role !== "admin") {
    revokeSession(state.token);
    logout("仅限管理员 · Administrators only");
    return;
  }
  $("login-view").hidden = true;
  $("admin-view").hidden = false;
  $("who").textContent = `管理员 ${me.username}`;
  $("who").hidden = $("logout").hidden = false;
  await refresh();
}

function login(event) {
  return submitLogin(event, async (token, user) => {
    state.token = token;
    state.user = user;
    await showAdmin();
  });
}

function logout(message) {
  state.token = null;
  $("admin-view").hidden = true;
  $("notice").hidden = true;
  forgetSession(message);
}

function start() {
  for (const [role, label] of ROLES) {
    const option = el("option", "", label);
    option.value = role;
    $("new-role").append(option);
  }
  $("login-form").addEventListener("submit", login);
  $("add-form").addEventListener("submit", addUser);
  $("logout").addEventListener("click", () => {
    revokeSession(state.token);
    logout();
  });
  if (state.token) showAdmin().catch(() => logout());
  else $("login-view").hidden = false;
}

document.addEventListener("DOMContentLoaded", start);
