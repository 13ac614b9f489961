"""Plain-text rendering of an evaluation result, for the terminal and the notebook."""

from __future__ import annotations

from typing import Any

from recommender.metrics import NO_PREDICTION


def render_evaluation(result: dict[str, Any]) -> str:
    """Render a result of evaluation.score as tables for the terminal."""
    bootstrap = result["bootstrap"]
    lines = [
        f"Evaluation of {result['queries']} queries from "
        f"{result.get('queries_file', '?')}: top {result.get('top_k', '?')} matches, "
        f"threshold {result['threshold']:.2f}",
        (
            f"Intervals: {bootstrap['confidence']:.0%} percentile bootstrap over "
            f"queries, {bootstrap['resamples']} resamples, seed {bootstrap['seed']}"
            if bootstrap["resamples"]
            else "Intervals: none (--bootstrap 0)"
        ),
        "",
        f"{'Retrieval':<30}{'value':>7}  {'95% CI':<16}{'queries':>8}",
    ]
    retrieval = result["retrieval"]
    for key, name in _RETRIEVAL_NAMES.items():
        lines.append(_estimate_line(name, retrieval[key]))

    for field_name in ("severity", "category"):
        scores = result[field_name]
        lines += ["", field_name.capitalize()]
        lines.append(_estimate_line("accuracy", scores["accuracy"]))
        lines.append(_estimate_line("macro-F1", scores["macro_f1"]))
        lines += _confusion_lines(scores["labels"], scores["confusion_matrix"])

    lines += ["", "Fix type"]
    lines.append(_estimate_line("agreement", result["fix_type"]["agreement"]))

    flag = result["no_close_precedent"]
    lines += ["", f"No close precedent at threshold {flag['threshold']:.2f}"]
    lines.append(_estimate_line("answered", flag["answered"]))
    lines.append(_estimate_line("accuracy of answered", flag["accuracy"]))
    lines.append(_estimate_line("flagged without precedent", flag["flagged"]))
    lines += ["", *_curve_lines(flag["curve"])]

    missed = retrieval["missed_at_5"]
    lines += ["", "No relevant record in the top 5: " + (", ".join(missed) or "none")]
    unknown = result.get("unknown_relevant_ids")
    if unknown:
        lines.append(
            "Relevant ids not in the knowledge base, left out of their queries: "
            + ", ".join(unknown)
        )
    return "\n".join(lines)


_RETRIEVAL_NAMES = {
    "recall@1": "Recall@1",
    "recall@5": "Recall@5",
    "mrr@10": "MRR@10",
    "ndcg@10": "nDCG@10",
}


def _estimate_line(name: str, estimate: dict[str, Any]) -> str:
    if estimate["value"] is None:
        return f"  {name:<28}{'n/a':>7}  {'':<16}{estimate['n']:>8}"
    interval = ""
    if estimate["ci_low"] is not None:
        interval = f"[{estimate['ci_low']:.3f}, {estimate['ci_high']:.3f}]"
    return f"  {name:<28}{estimate['value']:>7.3f}  {interval:<16}{estimate['n']:>8}"


def _confusion_lines(labels: list[str], matrix: list[list[int]]) -> list[str]:
    """Return the matrix when it fits in 88 columns, else its off-diagonal cells."""
    if not matrix:
        return []
    label_width = max(len(label) for label in labels)
    cell_width = label_width + 1
    if 4 + label_width + cell_width * len(labels) <= 88:
        lines = ["  confusion matrix (rows expected, columns suggested):"]
        lines.append(
            " " * (4 + label_width)
            + "".join(f"{label:>{cell_width}}" for label in labels)
        )
        for label, row in zip(labels, matrix, strict=True):
            if label == NO_PREDICTION:
                continue  # Always zero: no query expects "no suggestion".
            cells = "".join(f"{count:>{cell_width}}" for count in row)
            lines.append(f"    {label:<{label_width}}{cells}")
        return lines

    confusions = [
        (count, expected, suggested)
        for expected, row in zip(labels, matrix, strict=True)
        for suggested, count in zip(labels, row, strict=True)
        if count and expected != suggested
    ]
    lines = ["  confusions (expected -> suggested: queries; the JSON has the matrix):"]
    for count, expected, suggested in sorted(confusions, key=lambda c: (-c[0], c[1:])):
        lines.append(f"    {expected} -> {suggested}: {count}")
    return lines if confusions else [*lines, "    none"]


def _curve_lines(curve: list[dict[str, Any]]) -> list[str]:
    """Return the curve every 0.05 from the last full coverage to the first zero."""
    full = max((p["threshold"] for p in curve if p["coverage"] >= 1.0), default=0.0)
    empty = min((p["threshold"] for p in curve if p["answered"] == 0), default=1.0)
    lines = [
        "Coverage against accuracy (answer only at or above the threshold):",
        f"  {'threshold':>9}  {'coverage':>8}  {'accuracy':>8}",
    ]
    for point in curve:
        on_grid = round(point["threshold"] * 100) % 5 == 0
        if on_grid and full - 0.05 < point["threshold"] < empty + 0.05:
            accuracy = point["accuracy"]
            accuracy_text = "n/a" if accuracy is None else f"{accuracy:.3f}"
            lines.append(
                f"  {point['threshold']:>9.2f}  {point['coverage']:>8.3f}  "
                f"{accuracy_text:>8}"
            )
    return lines
