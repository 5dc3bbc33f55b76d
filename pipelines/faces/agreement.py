"""Agreement report: per attribute, model vs human accuracy on reviewed faces, label balance and coverage."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from pipelines.faces.schema import AttributeSchema


def agreement_report(records: Iterable[dict[str, Any]], schema: AttributeSchema) -> dict[str, Any]:
    """Over face records (after ``apply_review``), per attribute:

    - ``reviewed``: faces a person labelled; ``accuracy``: share of those where the model's choice equals the person's
      (None when none was reviewed); ``changed``: how many the person changed;
    - ``balance``: final choices counted ("1"/"-1"/"0" or class names); ``coverage``: share of faces with a defined label
      (not 0); ``human_share``: share of faces whose label comes from a person."""
    faces = list(records)
    rows: dict[str, dict[str, Any]] = {}
    for attr in schema.attributes:
        balance: Counter[str] = Counter()
        reviewed = agree = defined = 0
        for r in faces:
            entries = {k: r["attributes"][k] for k in attr.label_keys() if k in r["attributes"]}
            final = attr.choice_of({k: e["value"] for k, e in entries.items()})
            if final is None:
                continue
            balance[final] += 1
            defined += final != "0"
            if entries and all(e["source"] == "human" for e in entries.values()):
                reviewed += 1
                agree += attr.choice_of({k: e["model"]["value"] for k, e in entries.items()}) == final
        n = len(faces)
        rows[attr.name] = {
            "reviewed": reviewed,
            "accuracy": round(agree / reviewed, 4) if reviewed else None,
            "changed": reviewed - agree,
            "balance": dict(sorted(balance.items())),
            "coverage": round(defined / n, 4) if n else 0.0,
            "human_share": round(reviewed / n, 4) if n else 0.0,
        }
    scored = [r for r in rows.values() if r["reviewed"]]
    overall = sum(r["reviewed"] - r["changed"] for r in scored) / max(sum(r["reviewed"] for r in scored), 1)
    return {
        "faces": len(faces),
        "reviewed_faces": sum("review" in r for r in faces),
        "accuracy": round(overall, 4) if scored else None,
        "attributes": rows,
    }


def agreement_table(report: dict[str, Any]) -> str:
    """The report as a Markdown table, one row per attribute."""
    lines = [
        "| attribute | reviewed | accuracy | changed | coverage | balance |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in report["attributes"].items():
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.2f}"
        bal = " ".join(f"{k}:{v}" for k, v in r["balance"].items())
        lines.append(f"| {name} | {r['reviewed']} | {acc} | {r['changed']} | {r['coverage']:.2f} | {bal} |")
    return "\n".join(lines)
