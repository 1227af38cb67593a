#!/usr/bin/env python3
"""Writes conf/grafana/agent5-dashboard.json: calls, latency, media and the edge.

Edit the panels here and re-run (python3 scripts/gen-grafana-dashboard.py); the
metric names are checked against the code by tests/tests/ops_files.rs.
"""
import json
import os

DS = {"type": "prometheus", "uid": "${datasource}"}
panels = []
state = {"id": 0, "x": 0, "y": 0}


def sel(metric, extra=""):
    labels = 'instance=~"$instance"' + ("," + extra if extra else "")
    return metric + "{" + labels + "}"


def row(title):
    if state["x"] > 0:
        state["y"] += 8
    state["x"] = 0
    state["id"] += 1
    panels.append({"type": "row", "title": title, "id": state["id"], "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": state["y"]}, "panels": []})
    state["y"] += 1


def panel(title, targets, unit="short", kind="timeseries", w=8, desc=""):
    if state["x"] + w > 24:
        state["x"] = 0
        state["y"] += 8
    state["id"] += 1
    p = {"type": kind, "title": title, "id": state["id"], "datasource": DS,
         "gridPos": {"h": 8, "w": w, "x": state["x"], "y": state["y"]},
         "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
         "targets": [{"refId": chr(65 + i), "expr": e, "legendFormat": legend, "datasource": DS}
                     for i, (e, legend) in enumerate(targets)]}
    if desc:
        p["description"] = desc
    panels.append(p)
    state["x"] += w


def quantiles(metric, qs, by="le"):
    return [(f"histogram_quantile({q}, sum by ({by}) (rate({sel(metric)}[10m])))", f"p{round(q * 100)}")
            for q in qs]


def per_min(metric, by, legend):
    return (f"sum by ({by}) (rate({sel(metric)}[5m])) * 60", legend)


row("Calls")
panel("Active calls", [(f"sum({sel('agent5_calls_active')})", "active")], kind="stat", w=4)
panel("Calls ended / min by status", [per_min("agent5_calls_ended_total", "status", "{{status}}")], w=10)
panel("Calls refused / min by reason", [per_min("agent5_calls_refused_total", "reason", "{{reason}}")], w=10,
      desc="POST /api/calls answered without dialling: opt-outs, capacity, bad numbers.")
failed = sel("agent5_calls_ended_total", 'status="failed"')
panel("Failed call ratio (30 m)",
      [(f"sum(rate({failed}[30m])) / clamp_min(sum(rate({sel('agent5_calls_ended_total')}[30m])), 1e-9)", "failed")],
      unit="percentunit")
panel("Agent (OpenAI) session problems / min", [per_min("agent5_agent_failures_total", "kind", "{{kind}}")])
panel("Telnyx commands / min", [per_min("agent5_telnyx_commands_total", "command, result", "{{command}} {{result}}")])

row("Latency")
panel("Voice-to-voice (caller stops -> agent audio)", quantiles("agent5_voice_to_voice_seconds_bucket", (0.5, 0.95, 0.99)), unit="s")
panel("Greeting: agent first audio after answer", quantiles("agent5_agent_first_audio_seconds_bucket", (0.5, 0.95)), unit="s")
panel("Agent connect and barge-in clear (p95)",
      [(quantiles("agent5_agent_connect_seconds_bucket", (0.95,))[0][0], "connect"),
       (quantiles("agent5_barge_in_clear_seconds_bucket", (0.95,))[0][0], "barge-in clear")], unit="s")

row("Media and recordings")
panel("Media frames / s", [(f"sum(rate({sel('agent5_media_frames_total')}[1m]))", "frames"),
                           (f"sum(rate({sel('agent5_media_frames_dropped_total')}[1m]))", "dropped"),
                           (f"sum(rate({sel('agent5_media_frames_reordered_total')}[1m]))", "reordered")])
panel("Barge-ins / min", [(f"sum(rate({sel('agent5_barge_ins_total')}[5m])) * 60", "barge-ins")])
panel("Recordings", [(f"sum(rate({sel('agent5_recording_bytes_total')}[5m]))", "bytes/s written"),
                     (f"sum(increase({sel('agent5_recording_dropped_total')}[1h]))", "dropped (1 h)")])
panel("Listen-in", [(f"sum({sel('agent5_monitor_listeners')})", "listeners"),
                    (f"sum(rate({sel('agent5_monitor_dropped_total')}[5m]))", "dropped frames/s")])
panel("WebSocket sessions", [(f"sum by (kind) ({sel('agent5_websocket_sessions')})", "{{kind}}")])
panel("Media sockets refused / min", [(f"sum(rate({sel('agent5_media_auth_failures_total')}[5m])) * 60", "bad stream token")])

row("Edge")
panel("Requests / s by status", [(f"sum by (status) (rate({sel('agent5_http_requests_total')}[1m]))", "{{status}}")])
panel("Request duration p99 by route",
      quantiles("agent5_http_request_duration_seconds_bucket", (0.99,), by="le, route")[:1], unit="s")
panels[-1]["targets"][0]["legendFormat"] = "{{route}}"
panel("Connections", [(f"sum({sel('agent5_http_open_connections')})", "open"),
                      (f"sum({sel('agent5_http_requests_in_flight')})", "in flight")])
panel("Refused: rate limits and auth / min", [per_min("agent5_rate_limited_total", "budget", "429 {{budget}}"),
                                              per_min("agent5_auth_failures_total", "reason", "401 {{reason}}")])
panel("Telnyx webhooks / min", [per_min("agent5_telnyx_webhooks_total", "outcome", "{{outcome}}"),
                                per_min("agent5_telnyx_webhook_rejections_total", "reason", "refused {{reason}}")])
panel("Webhook processing p95", quantiles("agent5_telnyx_webhook_processing_seconds_bucket", (0.95,)), unit="s")
panel("Store up", [(f"min({sel('agent5_store_up')})", "store")], kind="stat", w=6)
panel("Certificate days left",
      [(f"min by (name) ({sel('agent5_tls_cert_expiry_timestamp_seconds')} - time()) / 86400", "{{name}}")],
      kind="stat", w=6)
panel("ACME orders (24 h)", [(f"sum by (result) (increase({sel('agent5_acme_orders_total')}[24h]))", "{{result}}")],
      kind="stat", w=6)
panel("Version", [(f"max by (version) ({sel('agent5_build_info')})", "{{version}}")], kind="stat", w=6)

dashboard = {
    "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource",
                  "pluginId": "prometheus", "pluginName": "Prometheus"}],
    "title": "Agent5 appliance", "uid": "agent5-appliance", "editable": True,
    "schemaVersion": 39, "version": 1, "tags": ["agent5"],
    "time": {"from": "now-6h", "to": "now"}, "refresh": "30s",
    "templating": {"list": [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"},
        {"name": "instance", "type": "query", "datasource": DS, "label": "Instance",
         "query": "label_values(agent5_build_info, instance)", "includeAll": True, "multi": True,
         "current": {"text": "All", "value": "$__all"}, "refresh": 2},
    ]},
    "panels": panels,
}

out = os.path.join(os.path.dirname(__file__), "..", "conf", "grafana", "agent5-dashboard.json")
with open(out, "w") as f:
    json.dump(dashboard, f, indent=2)
    f.write("\n")
print(f"{out}: {len(panels)} panels")
