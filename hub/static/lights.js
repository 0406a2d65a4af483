// The five lights (五同步) shared by the clerk page and the patrol wall: one
// coloured dot per synchronisation, from the hub's live "compliance" message
// (hub/compliance_live.py) or the full report (GET /api/hearings/{id}/compliance,
// courtroom_core/compliance.py); the summary is the line under it and the tooltip.
"use strict";

const FIVE_SYNC = [
  ["recording", "录音录像", "Recording"],
  ["transcript_display", "笔录展示", "Transcript display"],
  ["evidence_display", "证据展示", "Evidence display"],
  ["video", "视频摄录", "Video"],
  ["data_upload", "数据上传", "Data upload"],
];
const LIGHT_WORDS = { green: "正常 OK", amber: "注意 Check", red: "异常 Fault" };

// The live message's shape from a full report (the clerk page reads one after a hub restart).
function lightsMessage(courtroom, report) {
  const lights = {};
  for (const [part] of FIVE_SYNC) {
    const light = report.lights[part];
    lights[part] = { status: light.status, label: light.label, summary: light.summary };
  }
  return {
    type: "compliance",
    courtroom,
    hearing_id: report.hearing_id,
    final: report.final,
    session: report.session,
    lights,
    open_incidents: report.open_incidents,
    incidents: report.incidents.filter((i) => i.state !== "signed").slice(0, 20),
  };
}

// Fill `list` (an <ol>) with the five lights; `withSummary` adds the summary line.
function renderLights(list, message, withSummary) {
  const items = [];
  for (const [part, zh, en] of FIVE_SYNC) {
    const light = (message && message.lights && message.lights[part]) || null;
    const status = light ? light.status : "none";
    const li = el("li", `light light-${status}`);
    li.dataset.part = part;
    li.dataset.status = status;
    const summary = light ? light.summary : "暂无数据 · no data";
    li.title = `${zh} ${en}: ${LIGHT_WORDS[status] || "—"} — ${summary}`;
    const dot = el("span", "light-dot");
    dot.setAttribute("aria-hidden", "true");
    const name = el("span", "light-name", zh);
    li.append(dot, name);
    if (withSummary) {
      const [szh, sen] = String(summary).split(" · ");
      const line = el("span", "light-summary", szh);
      if (sen) line.append(el("small", "", sen));
      li.append(line);
    }
    li.setAttribute("aria-label", `${zh} ${LIGHT_WORDS[status] || ""}: ${summary}`);
    items.push(li);
  }
  list.replaceChildren(...items);
  list.dataset.final = String(Boolean(message && message.final));
}
