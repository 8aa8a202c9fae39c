"""Prometheus textfile-collector output: one store label, no duplicate series."""

from __future__ import annotations

import re
import time

from sessdiag.core.textsafe import escape_unprintable
from sessdiag.render.jsonout import write_atomic

_LABEL_ESCAPES = str.maketrans({"\\": "\\\\", "\"": "\\\"", "\n": "\\n"})


def _label(v: object) -> str:
    return escape_unprintable(str(v).translate(_LABEL_ESCAPES))


def _labels(**kv: object) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in kv.items()) + "}"


class Metrics:
    """Collects samples per metric name; renders HELP/TYPE once per family."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[str, str, dict[str, float]]] = {}

    def add(self, name: str, help_text: str, value: float | None, mtype: str = "gauge",
            **labels: object) -> None:
        if value is None:
            return
        if not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", name):
            raise ValueError(f"bad metric name {name!r}")
        fam = self.families.setdefault(name, (help_text, mtype, {}))
        fam[2][_labels(**labels)] = float(value)

    def render(self) -> str:
        lines: list[str] = []
        for name, (help_text, mtype, samples) in self.families.items():
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {mtype}")
            for labels, value in samples.items():
                lines.append(f"{name}{labels} {_num(value)}")
        return "\n".join(lines) + "\n"


def _num(v: float) -> str:
    return str(int(v)) if v == int(v) and abs(v) < 2**53 else repr(v)


def store_label(report: dict) -> str:
    return report.get("store") or report.get("target", {}).get("location", "")


def scan_metrics(m: Metrics, report: dict, *, top_clients: int = 10) -> None:
    store = store_label(report)
    m.add("sessdiag_sessions", "Sessions in the store.", report.get("sessions"), store=store)
    m.add("sessdiag_bytes", "Session payload bytes.", report.get("bytes"), store=store)
    m.add("sessdiag_allocated_bytes", "Bytes the store really costs (blocks, or Redis memory).",
          report.get("allocated_bytes"), store=store)
    m.add("sessdiag_expired", "Sessions past their lifetime still present.",
          report.get("expired"), store=store)
    m.add("sessdiag_empty", "Sessions holding no attributes.", report.get("empty"), store=store)
    for kind, n in (report.get("anomalies") or {}).items():
        if n is None:  # not applicable to this kind of store
            continue
        m.add("sessdiag_anomalies", "Anomalies found by kind.", n, store=store, kind=kind)
    for g in report.get("groups") or []:
        m.add("sessdiag_group_orphans", "Never-reused sessions per profile and namespace.",
              g.get("orphans"), store=store, profile=g.get("profile", ""),
              namespace=g.get("namespace", ""))
    clients = sorted(report.get("clients") or [], key=lambda c: -(c.get("orphans") or 0))
    for c in clients[:top_clients]:
        m.add("sessdiag_client_orphans", "Orphan sessions attributed to a client (top N).",
              c.get("orphans"), store=store, client=c.get("client", ""))
    minters_metrics(m, report, store)
    gc = report.get("gc_estimate")
    if gc:
        gc_metrics(m, store, gc)
    scan = report.get("scan") or {}
    m.add("sessdiag_scan_duration_seconds", "Wall time of the scan.", scan.get("duration_s"),
          store=store)
    m.add("sessdiag_last_run_timestamp_seconds", "When sessdiag last reported on this store.",
          time.time(), store=store)


def gc_metrics(m: Metrics, store: str, fig: dict) -> None:
    """The GC stall figure (gcstall.gc_figure) as scan, check and gc-estimate report it."""
    m.add("sessdiag_gc_estimate_seconds", "Estimated beego GC stall (every request waits).",
          fig.get("seconds"), store=store)
    for bound, value in zip(("low", "high"), fig.get("range_s") or (), strict=False):
        m.add("sessdiag_gc_estimate_range_seconds", "Range of the estimated beego GC stall.",
              value, store=store, bound=bound)
    m.add("sessdiag_gc_estimate_measured", "1 when the GC stall was measured on this "
          "filesystem (gc-estimate's probe), 0 for the static fallback.",
          1 if fig.get("measured") else 0, store=store, model=fig.get("model", ""))


TOP_MINTERS = 10
OTHER = "(other)"


def minters_metrics(m: Metrics, report: dict, store: str, top: int = TOP_MINTERS) -> None:
    """Sessions issued and orphaned per route and per user agent: the top N by orphans, the
    rest summed under "(other)", so a log of a million paths or agents is N+1 series."""
    for key, section, label, help_what in (("route", "routes", "route", "route template"),
                                           ("user_agent", "user_agents", "user_agent",
                                            "user agent")):
        rows = report.get(section)
        if not rows:
            continue
        summary = report.get("minters_summary") or {}
        for name, field in (("issued", "issued"), ("orphans", "orphans")):
            metric = f"sessdiag_{section}_{name}" if section == "routes" else \
                f"sessdiag_user_agent_{name}"
            help_text = (f"Sessions {'issued' if name == 'issued' else 'never presented back'}"
                         f" per {help_what} (top {top} by orphans, the rest as {OTHER}).")
            rest = 0
            for i, row in enumerate(rows):
                if i < top:
                    labels = {label: row["template"] if key == "route" else row[key]}
                    if key == "user_agent":
                        labels["class"] = row["class"]
                    m.add(metric, help_text, row[field], store=store, **labels)
                else:
                    rest += row[field]
            total = summary.get(field)
            if isinstance(total, int) and not isinstance(total, bool):
                # The report lists at most MAX_SHOWN rows: the rest is the total less the
                # top, so rows past the list still count in "(other)".
                rest = total - sum(row[field] for row in rows[:top])
            if len(rows) > top or summary.get(f"{section}_shown", len(rows)) < summary.get(
                    section, len(rows)):
                extra = {"class": "mixed"} if key == "user_agent" else {}
                m.add(metric, help_text, rest, store=store, **{label: OTHER}, **extra)
    classes = (report.get("minters_summary") or {}).get("classes") or {}
    for cls, t in classes.items():
        m.add("sessdiag_user_agent_class_orphans", "Orphan sessions per user-agent class.",
              t.get("orphans"), store=store, **{"class": cls})


def prune_metrics(m: Metrics, report: dict) -> None:
    store = store_label(report)
    for key, help_text in (("candidates", "Sessions old enough to prune."),
                           ("deleted", "Sessions deleted by the last prune."),
                           ("skipped_fresh", "Candidates touched again before deletion."),
                           ("errors", "Deletions that failed."),
                           ("bytes_freed", "Bytes freed by the last prune."),
                           # Redis only (None elsewhere: no sample written)
                           ("companions_deleted", "Companion keys (Spring shadows, "
                            "expirations sets) deleted by the last prune."),
                           ("index_members_removed", "Index members pointing at no session, "
                            "removed by the last prune."),
                           ("ttl_set", "Live sessions without a TTL given one (--fix-ttl).")):
        value = report.get(key)
        if isinstance(value, list):
            value = len(value)
        m.add(f"sessdiag_prune_{key}", help_text, value, store=store)
    m.add("sessdiag_prune_duration_seconds", "Wall time of the last prune.",
          report.get("duration_s"), store=store)


def check_metrics(m: Metrics, store: str, results: list[dict]) -> None:
    for r in results:
        m.add("sessdiag_check_rule_ok", "1 when a policy rule holds, 0 when it is violated.",
              {"pass": 1, "fail": 0}.get(r["status"]), store=store, rule=r["rule"])


def write_prom(path: str, m: Metrics) -> None:
    write_atomic(path, m.render())
