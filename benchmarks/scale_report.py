"""The "Scale" section of docs/BENCHMARKS.md, rendered from a scale benchmark result."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from benchmarks.page import write_section

TITLE = "## Scale: 10k to 1M records"


def _row(label: str, cells: Iterable[str]) -> str:
    """Return one Markdown table row: the label, then one cell per size."""
    return f"| {label} | " + " | ".join(cells) + " |"


def _ratio(value: float, floor: float) -> str:
    return f"{value / floor:.2f}x" if floor else "n/a"


def _ms(value: float) -> str:
    return f"{value:.1f}"


def _count(value: int) -> str:
    return f"{value:,}"


def render(result: dict[str, Any]) -> str:
    """Return the whole section as Markdown."""
    sizes = result["sizes"]
    header = (
        "| | " + " | ".join(_count(s["records"]) + " records" for s in sizes) + " |"
    )
    rule = "|---|" + "---|" * len(sizes)
    lines = [
        TITLE,
        "",
        "How the product behaves as the knowledge base grows. Each figure stands "
        "beside its floor, measured in the same run. For building, the floor is raw "
        "`SentenceTransformer.encode`; for searching, one query embedding plus one "
        "search of the product's own FAISS index; for recall, exact search.",
        "",
        f"Command: `{result['command']}` ({result['minutes']:.0f} min in total), "
        f"on {result['code']}.",
        "",
        f"Machine: {result['machine']}. Load average at the start: "
        + " / ".join(f"{v:.2f}" for v in result["load_average"])
        + ". Other processes may have shared the CPU.",
        "",
        *_missing_million(sizes),
        *_knowledge_bases(sizes, header, rule),
        *_threads(result["threads"]),
        *_quantized(result.get("quantized")),
        *_build(result["build"], sizes, header, rule),
        *_latency(result, sizes, header, rule),
        *_breakdown(sizes, header, rule),
        *_recall(sizes, header, rule),
        *_memory(sizes, header, rule),
        *_peers(result, sizes, header, rule),
    ]
    return "\n".join(lines) + "\n"


def _missing_million(sizes: list[dict[str, Any]]) -> list[str]:
    if any(run["records"] >= 1_000_000 for run in sizes):
        return []
    return [
        "This run has no knowledge base of 1,000,000 records. The vector index at "
        "that size (about "
        '6,700,000 passages) is measured on its own under "Index type by size": '
        "file size, search time, recall and the peak memory of a process holding the "
        "model and the index.",
        "",
    ]


def _knowledge_bases(sizes: list[dict[str, Any]], header: str, rule: str) -> list[str]:
    return [
        "### Knowledge bases",
        "",
        "Synthetic, made by `benchmarks/scale_data.py` as described under "
        "Re-indexing: sample record n mod 74 with a new service, shifted dates and "
        "swapped sentences, its vectors the sample's real passage vectors plus "
        "Gaussian noise. The vector index is built by the product's own rebuild, "
        "timed in this run. The insert time comes from the run that created the "
        "folder, which may have been an earlier one sharing the CPU with other "
        "jobs.",
        "",
        header,
        rule,
        _row("passages", (_count(s["passages"]) for s in sizes)),
        _row("index type", (s["index_type"] for s in sizes)),
        _row("index file, MB", (f"{s['index_bytes'] / 1e6:,.0f}" for s in sizes)),
        _row(
            "insert into the database, s",
            (f"{s['insert_seconds']:,.0f}" for s in sizes),
        ),
        _row("index rebuild, s", (f"{s['rebuild_seconds']:,.0f}" for s in sizes)),
        "",
    ]


def _quantized(quantized: dict[str, Any] | None) -> list[str]:
    if not quantized:
        return []
    if quantized.get("runtime") != "onnx":
        return _torch_quantized(quantized)
    speedup = quantized["float32_p50"] / max(quantized["int8_p50"], 1e-9)
    return [
        "### An int8 query embedding",
        "",
        "One query embedding of each of the queries below, milliseconds, with "
        f"{quantized['threads']} thread(s), through the float32 ONNX export of the "
        "model and through its int8 copy (`benchmarks/scale_quantized.py`). The "
        "copy's weights were quantized to int8 by ONNX Runtime, one scale per "
        "output channel, and the product embeds alerts and searches with it. The "
        "stored passage vectors come from the float32 model, so an int8 query "
        "vector is compared with them as it is.",
        "",
        *_latency_table(quantized),
        "",
        f"The int8 copy embeds a query {speedup:.2f} times as fast. The cosine "
        "similarity of its vector to the float32 vector of the same query is "
        f"{quantized['cosine_mean']:.3f} on average and "
        f"{quantized['cosine_min']:.3f} at the lowest. Each query is made from one "
        "of the 74 sample records. Over those records, each as close as its "
        "closest passage, the int8 vector ranks the same record first for "
        f"{quantized['same_first']:.1%} of the queries. The two vectors share "
        f"{quantized['shared_of_ten']:.1f} of their ten closest records. "
        "docs/EVALUATION.md is measured with int8 queries; "
        "`INCIDENT_QUANTIZED_QUERIES=false` embeds queries with the float32 export.",
        "",
    ]


def _torch_quantized(quantized: dict[str, Any]) -> list[str]:
    """Describe the torch quantization that older runs measured instead."""
    speedup = quantized["float32_p50"] / max(quantized["int8_p50"], 1e-9)
    return [
        "### A quantized query embedding",
        "",
        "One query embedding of each of the queries below, milliseconds, with "
        f"{quantized['threads']} thread(s): the float32 model, and a copy whose "
        "linear layers torch quantized to int8 on the fly.",
        "",
        *_latency_table(quantized),
        "",
        f"The int8 copy embeds a query {speedup:.2f} times as fast, with a cosine "
        f"similarity of {quantized['cosine_mean']:.3f} on average to the float32 "
        "vector of the same query.",
        "",
    ]


def _latency_table(quantized: dict[str, Any]) -> list[str]:
    """Return the p50 and p99 rows of the float32 and int8 query embeddings."""
    return [
        "| | p50 | p99 |",
        "|---|---|---|",
        f"| float32 | {_ms(quantized['float32_p50'])} | "
        f"{_ms(quantized['float32_p99'])} |",
        f"| int8 | {_ms(quantized['int8_p50'])} | {_ms(quantized['int8_p99'])} |",
    ]


def _threads(threads: dict[str, dict[str, float]]) -> list[str]:
    lines = [
        "### Threads",
        "",
        "One query embedding as the product embeds alerts (50 of the queries below, "
        "milliseconds), with torch and FAISS set to each thread count. Each count "
        "is timed alone, and while a second thread embeds queries without pause, "
        "as a second inference worker of the API does under load. The API gives "
        "each of its inference workers cores / workers threads "
        "(`INCIDENT_THREADS` overrides it); indexing uses every core.",
        "",
        "| threads | alone p50 | alone p99 | beside a second worker p50 | "
        "beside a second worker p99 |",
        "|---|---|---|---|---|",
    ]
    for count, row in threads.items():
        lines.append(
            f"| {count} | {_ms(row['alone_p50'])} | {_ms(row['alone_p99'])} | "
            f"{_ms(row['beside_p50'])} | {_ms(row['beside_p99'])} |"
        )
    return [*lines, ""]


def _build(
    build: dict[str, Any], sizes: list[dict[str, Any]], header: str, rule: str
) -> list[str]:
    encode_rate = build["passages"] / build["encode_seconds"]
    build_rate = build["passages"] / build["build_seconds"]
    lines = [
        "### Build throughput",
        "",
        f"{build['records']} new synthetic records ({build['passages']:,} passages), "
        "built into an empty knowledge base with `KnowledgeBase.build` (passage "
        "split, embedding, database, index), between two timings of raw "
        "`SentenceTransformer.encode` of the same passage texts with the same batch "
        f"size (their mean is the floor). Torch used {build['threads']} threads.",
        "",
        "| | passages/s | records/s | ratio to raw encode |",
        "|---|---|---|---|",
        f"| raw encode (floor) | {encode_rate:.1f} | "
        f"{build['records'] / build['encode_seconds']:.1f} | 1.00 |",
        f"| build from scratch | {build_rate:.1f} | "
        f"{build['records'] / build['build_seconds']:.1f} | "
        f"{build_rate / encode_rate:.2f} |",
    ]
    for run in sizes:
        raw = run["add_passages"] / run["add_encode_seconds"]
        rate = run["add_passages"] / run["add_seconds"]
        lines.append(
            f"| add in place to {_count(run['records'])} records | {rate:.1f} | "
            f"{run['add_records'] / run['add_seconds']:.1f} | {rate / raw:.2f} |"
        )
    lines += [
        "",
        "For the in-place adds the floor is the mean of two raw encodes of the "
        "added records' passages, timed just before and just after the add.",
        "",
    ]
    return lines


def _latency(
    result: dict[str, Any], sizes: list[dict[str, Any]], header: str, rule: str
) -> list[str]:
    def row(label: str, name: str, quantile: str, floor_name: str = "floor") -> str:
        cells = []
        for run in sizes:
            value = run["latency_ms"][name][quantile]
            floor = run["latency_ms"][floor_name][quantile]
            cells.append(f"{_ms(value)} ({_ratio(value, floor)})")
        return _row(label, cells)

    # Runs from before alerts were embedded through ONNX Runtime have one floor,
    # and runs from before the int8 copy have no float32 one.
    floor_rows: list[str] = []
    http_rows: list[str] = []
    for name, title, label in (
        ("floor_float32", "floor through the float32 export", "the float32 floor"),
        (
            "floor_torch",
            "floor through sentence-transformers",
            "the sentence-transformers floor",
        ),
    ):
        if not all(name in run["latency_ms"] for run in sizes):
            continue
        floor_rows += [
            row(f"{title} p50", name, "p50"),
            row(f"{title} p99", name, "p99"),
        ]
        http_rows += [
            row(
                f"search over HTTP {quantile} to {label}", "http_search", quantile, name
            )
            for quantile in ("p50", "p99")
        ]

    return [
        "### Search latency",
        "",
        f"{result['queries']} alert-like queries (a sample's title and first symptom "
        "sentence, with a synthetic service name), one at a time after 10 untimed "
        "ones. Milliseconds, with the ratio to the floor of the same quantile in "
        "brackets. The floor is one query embedding plus one search of the "
        "product's index for the top 10 passages, with the query embedded as the "
        "product embeds alerts. That is the int8 copy of the ONNX export when the "
        "run recorded a float32 floor, which embeds through the float32 export. "
        "The sentence-transformers floor embeds through `encode` with the same "
        "float32 model. Search is what `GET /v1/search` "
        "computes (embedding, index search for the candidates, keyword search, exact "
        "rescoring of every passage of the candidates from their scoring rows, "
        "labels); a recommendation adds "
        "severity, category, root causes and fixes. HTTP is `GET /v1/search` on "
        "`recommender serve` over 127.0.0.1, one kept-alive connection of the "
        "standard library's http.client. Before the "
        "in-process queries the run loads what `recommender serve` loads before it "
        "reports ready, including one read of the scoring rows into the page "
        "cache. In-process searches use the threads per inference worker that "
        "`recommender serve` "
        f"uses ({sizes[0].get('threads', '?')} here).",
        "",
        header,
        rule,
        row("floor p50", "floor", "p50"),
        row("floor p99", "floor", "p99"),
        *floor_rows,
        row("search in process p50", "search", "p50"),
        row("search in process p99", "search", "p99"),
        row("search over HTTP p50", "http_search", "p50"),
        row("search over HTTP p99", "http_search", "p99"),
        *http_rows,
        row("recommendation in process p50", "recommend", "p50"),
        row("recommendation in process p99", "recommend", "p99"),
        _row(
            "first recommendation in a new process (fits the history classifiers), s",
            (f"{s['first_recommendation_seconds']:.1f}" for s in sizes),
        ),
        _row(
            "`recommender serve` ready (model, index, scoring rows, classifiers), s",
            (f"{s['ready_seconds']:.1f}" for s in sizes),
        ),
        "",
    ]


def _breakdown(sizes: list[dict[str, Any]], header: str, rule: str) -> list[str]:
    steps = list(
        dict.fromkeys(step for run in sizes for step in run.get("breakdown_ms", {}))
    )
    if not steps:
        return []
    return [
        "#### Where the time of a search goes",
        "",
        "Each step of a search timed on its own over the same queries, mean "
        "milliseconds (`search_breakdown` in benchmarks/scale_queries.py). The first "
        "two steps make the floor; the rest is the work above it. Three steps run "
        "on a second thread while the query is embedded: document frequencies, the "
        "keyword search with its candidates' scoring rows, and the lookup of the "
        "rarest terms in records' bodies. With a free core they add little to the "
        "latency. Keyword coverage is timed over every "
        "candidate; a search covers only those that can still reach the top 10.",
        "",
        header,
        rule,
        *(
            _row(
                step,
                (f"{run.get('breakdown_ms', {}).get(step, 0.0):.1f}" for run in sizes),
            )
            for step in steps
        ),
        "",
    ]


def _recall(sizes: list[dict[str, Any]], header: str, rule: str) -> list[str]:
    keys = sorted({key for run in sizes for key in run["recall"]})
    return [
        "### Recall of the index",
        "",
        "Recall@10 of the product's index against exact inner-product search over "
        "every stored vector, for the query embeddings above.",
        "",
        header,
        rule,
        *(
            _row(key, (f"{run['recall'].get(key, float('nan')):.3f}" for run in sizes))
            for key in keys
        ),
        "",
    ]


def _memory(sizes: list[dict[str, Any]], header: str, rule: str) -> list[str]:
    return [
        "### Memory",
        "",
        "Peak resident set size (VmHWM): of the process that rebuilds the index, "
        "from GNU time, and of `recommender serve` after the HTTP queries.",
        "",
        header,
        rule,
        _row(
            "index rebuild, MiB", (f"{s['rebuild_peak_rss_mib']:,.0f}" for s in sizes)
        ),
        _row(
            "serving process, MiB", (f"{s['serve_peak_rss_mib']:,.0f}" for s in sizes)
        ),
        "",
    ]


def _peers(
    result: dict[str, Any], sizes: list[dict[str, Any]], header: str, rule: str
) -> list[str]:
    lines = [
        "### Peers",
        "",
        "What a team would otherwise set up, run in the same process on the same "
        "queries. The first is chromadb in embedded mode: it holds the product's own "
        "passage vectors (HNSW, cosine) and ranks a record by its best passage. It "
        "embeds the query with the same model through the float32 ONNX export, "
        "since chromadb's default embedding function is an ONNX copy of it. The "
        'product embeds its queries through the int8 copy; the row "query embedding '
        'alone" is the float32 embedding inside each chromadb query. '
        "The second is BM25 alone (bm25s) over one "
        "text per record (benchmarks/peers.py). Milliseconds, ratio to the product's "
        "floor in brackets. Torch threads during the peers' queries: "
        + ", ".join(
            str(run.get("peer_threads", "?"))
            for run in sizes
            if "skipped" not in run["peers"]
        )
        + " (one figure per size).",
        "",
        header,
        rule,
    ]
    skipped = [run for run in sizes if "skipped" in run["peers"]]
    if len(skipped) == len(sizes):
        return [
            "### Peers",
            "",
            _skipped_peers(sizes, skipped),
            "",
            *_task1(result["task1"]),
        ]
    if skipped:
        lines[2:2] = [_skipped_peers(sizes, skipped), ""]
    names = sorted(
        {name for run in sizes for name in run["peers"].get("latency_ms", {})}
    )
    for name in names:
        for quantile in ("p50", "p99"):
            cells = []
            for run in sizes:
                value = run["peers"].get("latency_ms", {}).get(name, {}).get(quantile)
                floor = run["latency_ms"]["floor"][quantile]
                cells.append(
                    "not run"
                    if value is None
                    else f"{_ms(value)} ({_ratio(value, floor)})"
                )
            lines.append(_row(f"{name} {quantile}", cells))
        if not any(name in run["peers"].get("build", {}) for run in sizes):
            # The query embedding alone has nothing to build.
            continue
        cells = []
        for run in sizes:
            build = run["peers"].get("build", {}).get(name)
            cells.append(
                "not run" if build is None else f"{build['items_per_second']:,.0f}"
            )
        lines.append(_row(f"{name} build, items/s", cells))
    return [*lines, "", *_task1(result["task1"])]


def _skipped_peers(sizes: list[dict[str, Any]], skipped: list[dict[str, Any]]) -> str:
    """Say where the peers were not built, and how long chromadb would have taken."""
    text = (
        "The peers were not built at "
        f"{', '.join(_count(run['records']) for run in skipped)} records"
    )
    built = [run for run in sizes if "chromadb" in run["peers"].get("build", {})]
    if not built:
        return text + " (`--peers-up-to`)."
    rate = built[-1]["peers"]["build"]["chromadb"]["items_per_second"]
    largest = skipped[-1]
    minutes = largest["passages"] / rate / 60
    return (
        f"{text}: chromadb inserted {rate:,.0f} passages/s at "
        f"{_count(built[-1]['records'])} records in this run, so the "
        f"{largest['passages']:,} passages of {_count(largest['records'])} records "
        f"would take about {minutes:,.0f} minutes (`--peers-up-to`)."
    )


def _task1(task1: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    lines = [
        "#### Task 1 quality",
        "",
        "Alert to runbook on the public data (380 runbooks, 112 kube-prometheus "
        "rules as alerts; docs/EVALUATION.md), scored in this run with bootstrap 95% "
        "intervals.",
        "",
        "| Task | Method | Recall@1 | Recall@5 | MRR@10 |",
        "|---|---|---|---|---|",
    ]
    for task, methods in task1.items():
        for method in ("product", *sorted(m for m in methods if m != "product")):
            values = methods[method]
            cells = [
                f"{v['value']:.3f} [{v['ci_low']:.3f}, {v['ci_high']:.3f}]"
                for v in (values["recall@1"], values["recall@5"], values["mrr@10"])
            ]
            lines.append(_row(f"{task} | {method}", cells))
    return [*lines, ""]


def write_report(result: dict[str, Any]) -> None:
    """Replace the scale section of docs/BENCHMARKS.md."""
    write_section(TITLE, render(result))
