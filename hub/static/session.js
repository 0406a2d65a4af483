// Shared by the clerk page (app.js) and the patrol wall (patrol.js): the login
// session, authorised requests, reconnect pacing and small DOM helpers.
// A classic script loaded (defer) before the page's own script; no build step.
"use strict";

const TOKEN_KEY = "courtroom.token";
const USER_KEY = "courtroom.user";

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  const pad = (n) => String(n).padStart(2, "0");
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
}

// The hub's live websocket for this page's origin.
function liveUrl(token) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws/live?token=${encodeURIComponent(token)}`;
}

// Exponential backoff with jitter for the live socket: 0.5 s, 1 s, 2 s … capped at 15 s.
function reconnectDelay(retry) {
  return Math.min(15000, 500 * 2 ** retry) * (0.75 + Math.random() * 0.5);
}

// fetch() with the bearer token; a 401 (expired or forged token) calls onExpired.
async function authFetch(token, path, options, onExpired) {
  const headers = { ...(options.headers || {}) };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401 && path !== "/api/login") {
    onExpired("登录已过期，请重新登录 · Session expired");
    throw new Error("unauthorized");
  }
  return response;
}

// The login form's submit: POST /api/login, remember the session for this tab,
// then onLoggedIn(token, username). A refusal is shown under the form.
async function submitLogin(event, onLoggedIn) {
  event.preventDefault();
  const button = $("login-button");
  button.disabled = true;
  $("login-error").hidden = true;
  try {
    const response = await fetch("/api/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: $("username").value.trim(), password: $("password").value }),
    });
    if (response.status === 429 || response.status === 503) {
      const wait = response.headers.get("Retry-After") || "60";
      throw new Error(`登录尝试过多，请 ${wait} 秒后再试 · Too many attempts, retry in ${wait} s`);
    }
    if (!response.ok) throw new Error("用户名或密码错误 · Wrong username or password");
    const body = await response.json();
    sessionStorage.setItem(TOKEN_KEY, body.token);
    sessionStorage.setItem(USER_KEY, body.username);
    $("password").value = "";
    await onLoggedIn(body.token, body.username);
  } catch (err) {
    $("login-error").textContent = err.message;
    $("login-error").hidden = false;
  } finally {
    button.disabled = false;
  }
}

// Sign out on the hub (POST /api/logout revokes the token and closes its live
// sockets); best effort, the page forgets the token either way.
function revokeSession(token) {
  if (!token) return;
  fetch("/api/logout", {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
    keepalive: true,
  }).catch(() => {});
}

// Forget the session; show the login form with an optional message.
function forgetSession(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  $("who").hidden = $("logout").hidden = true;
  $("login-view").hidden = false;
  if (message) {
    $("login-error").textContent = message;
    $("login-error").hidden = false;
  }
}
