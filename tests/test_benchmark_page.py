"""The benchmarks page: one section replaced in place, figures set beside floors."""

from benchmarks import query_runtimes
from benchmarks.page import write_section
from benchmarks.scale_report import (
    TITLE,
    _latency,
    _quantized,
    _skipped_peers,
    render,
)


def test_write_section_replaces_own_section(tmp_path):
    page = tmp_path / "BENCHMARKS.md"
    page.write_text("# Benchmarks\n\n## One\n\nold one\n\n## Two\n\ntwo\n")

    write_section("## One", "## One\n\nnew one\n", page)
    write_section("## Three", "## Three\n\nthree\n", page)

    assert page.read_text() == (
        "# Benchmarks\n\n## One\n\nnew one\n\n## Two\n\ntwo\n\n## Three\n\nthree\n"
    )


# The quantization figures of a run, without the runtime that newer runs record.
TORCH_QUANTIZED = {
    "float32_p50": 14.0,
    "float32_p99": 24.0,
    "int8_p50": 8.0,
    "int8_p99": 12.0,
    "cosine_mean": 0.951,
    "cosine_min": 0.918,
    "same_first": 0.995,
    "shared_of_ten": 8.95,
    "threads": 1,
}


def _size(records: int, floor_p50: float, http_p50: float) -> dict:
    latency = {"p50": floor_p50, "p99": floor_p50 * 2}
    return {
        "records": records,
        "passages": records * 7,
        "insert_seconds": 10.0,
        "index_type": "IVF1024,SQ4",
        "index_bytes": 5_000_000,
        "rebuild_seconds": 3.0,
        "rebuild_peak_rss_mib": 800.0,
        "add_records": 10,
        "add_seconds": 4.0,
        "add_encode_seconds": 3.6,
        "add_passages": 70,
        "latency_ms": {
            "floor": latency,
            "search": latency,
            "recommend": latency,
            "http_search": {"p50": http_p50, "p99": http_p50 * 2},
        },
        "first_recommendation_seconds": 0.5,
        "ready_seconds": 6.0,
        "serve_peak_rss_mib": 900.0,
        "recall": {"index's own top 10": 0.95},
        "breakdown_ms": {"query embedding": 12.0, "keyword search": 3.5},
        "peers": {
            "latency_ms": {
                "BM25": {"p50": 1.0, "p99": 4.0},
                "query embedding alone": {"p50": 8.0, "p99": 9.0},
            },
            "build": {"BM25": {"items_per_second": 5000.0}},
        },
    }


def _result(sizes: list[dict]) -> dict:
    estimate = {"value": 0.9, "ci_low": 0.8, "ci_high": 0.95}
    return {
        "command": "python -m benchmarks.scale --sizes 10000",
        "minutes": 12.0,
        "code": "commit abc1234",
        "machine": "2 cores",
        "load_average": [1.0, 1.5, 2.0],
        "queries": 200,
        "task1": {
            "text only": {
                "product": {
                    "recall@1": estimate,
                    "recall@5": estimate,
                    "mrr@10": estimate,
                }
            }
        },
        "threads": {
            "1": {"alone_p50": 10, "alone_p99": 12, "beside_p50": 11, "beside_p99": 13}
        },
        "quantized": {**TORCH_QUANTIZED, "runtime": "onnx"},
        "build": {
            "records": 20,
            "passages": 140,
            "encode_seconds": 10.0,
            "build_seconds": 10.5,
            "threads": 2,
        },
        "sizes": sizes,
    }


def test_scale_report_gives_floor_ratios():
    result = _result(
        [
            _size(10_000, 20.0, 25.0),
            _size(100_000, 30.0, 45.0),
            {**_size(1_000_000, 40.0, 50.0), "peers": {"skipped": "too large"}},
        ]
    )

    page = render(result)

    assert page.startswith(TITLE + "\n")
    assert (
        "| search over HTTP p50 | 25.0 (1.25x) | 45.0 (1.50x) | 50.0 (1.25x) |" in page
    )
    assert "| build from scratch | 13.3 | 1.9 | 0.95 |" in page
    assert "| add in place to 10,000 records | 17.5 | 2.5 | 0.90 |" in page
    assert "| BM25 p50 | 1.0 (0.05x) | 1.0 (0.03x) | not run |" in page
    assert "| query embedding alone p50 | 8.0 (0.40x) | 8.0 (0.27x) | not run |" in page
    assert "query embedding alone build" not in page
    assert "The peers were not built at 1,000,000 records" in page
    assert "| text only | product | 0.900 [0.800, 0.950] |" in page
    assert "| index's own top 10 | 0.950 | 0.950 | 0.950 |" in page
    assert "| keyword search | 3.5 | 3.5 | 3.5 |" in page
    assert "| int8 | 8.0 | 12.0 |" in page
    assert "embeds a query 1.75 times as fast" in page
    assert "0.951 on average and 0.918 at the lowest" in page
    assert "first for 99.5% of the queries" in page
    assert "| floor through sentence-transformers p50" not in page
    assert "| floor through the float32 export p50" not in page


def test_scale_report_without_peers_has_no_empty_table():
    result = _result([_size(2_000, 5.0, 9.0), _size(5_000, 6.0, 10.0)])
    for run in result["sizes"]:
        run["peers"] = {"skipped": "not run above 1,000 records"}

    page = render(result)

    peers = page[page.index("### Peers") : page.index("#### Task 1 quality")]
    assert peers == (
        "### Peers\n\nThe peers were not built at 2,000, 5,000 records "
        "(`--peers-up-to`).\n\n"
    )
    assert "This run has no knowledge base of 1,000,000 records. The" in page
    assert "had not finished" not in page


def test_scale_report_names_torch_quantization_of_older_runs():
    lines = _quantized(TORCH_QUANTIZED)

    assert lines[0] == "### A quantized query embedding"
    assert "torch quantized to int8" in " ".join(lines)
    assert "| int8 | 8.0 | 12.0 |" in lines


def test_scale_report_gives_the_float32_floor():
    sizes = [_size(10_000, 5.0, 12.0), _size(100_000, 6.0, 13.2)]
    for run, float32_p50 in zip(sizes, (10.0, 11.0), strict=True):
        run["latency_ms"]["floor_float32"] = {"p50": float32_p50, "p99": 20.0}
        run["latency_ms"]["floor_torch"] = {"p50": 15.0, "p99": 30.0}
    lines = _latency({"queries": 200}, sizes, "| | a | b |", "|---|---|---|")

    assert (
        "| floor through the float32 export p50 | 10.0 (2.00x) | 11.0 (1.83x) |"
        in lines
    )
    assert (
        "| search over HTTP p50 to the float32 floor | 12.0 (1.20x) | 13.2 (1.20x) |"
        in lines
    )
    assert "| search over HTTP p50 | 12.0 (2.40x) | 13.2 (2.20x) |" in lines
    assert lines.index(
        "| search over HTTP p50 to the float32 floor | 12.0 (1.20x) | 13.2 (1.20x) |"
    ) < lines.index(
        "| search over HTTP p50 to the sentence-transformers floor "
        "| 12.0 (0.80x) | 13.2 (0.88x) |"
    )


def test_scale_report_gives_both_floors():
    sizes = [_size(10_000, 10.0, 15.0), _size(100_000, 12.0, 18.0)]
    for run, torch_p50 in zip(sizes, (20.0, 24.0), strict=True):
        run["latency_ms"]["floor_torch"] = {"p50": torch_p50, "p99": torch_p50 * 2}
    lines = _latency({"queries": 200}, sizes, "| | a | b |", "|---|---|---|")

    assert (
        "| floor through sentence-transformers p50 | 20.0 (2.00x) | 24.0 (2.00x) |"
        in lines
    )
    assert (
        "| search over HTTP p50 to the sentence-transformers floor "
        "| 15.0 (0.75x) | 18.0 (0.75x) |"
    ) in lines


def test_query_runtimes_section():
    result = {
        "queries": 200,
        "passages": 496,
        "batch_size": 64,
        "max_difference": 2.4e-7,
        "machine": "2 cores",
        "runs": [
            {
                "threads": 1,
                "single_ms": {
                    "sentence-transformers": {"p50": 18.5, "p99": 28.0},
                    "ONNX Runtime": {"p50": 12.2, "p99": 24.4},
                },
                "passages_per_second": {
                    "sentence-transformers": 40.0,
                    "ONNX Runtime": 30.5,
                },
            }
        ],
    }

    section = query_runtimes.render(result)

    assert section.startswith(query_runtimes.TITLE + "\n")
    assert "| 1 | sentence-transformers | 18.5 | 28.0 | 40.0 |" in section
    assert "| 1 | ONNX Runtime | 12.2 | 24.4 | 30.5 |" in section
    assert "in batches through sentence-transformers: 2.4e-07." in section


def test_skipped_peers_use_run_rate():
    built = {
        **_size(100_000, 30.0, 45.0),
        "peers": {"build": {"chromadb": {"items_per_second": 2_000.0}}},
    }
    skipped = {**_size(1_000_000, 40.0, 50.0), "peers": {"skipped": "too large"}}

    text = _skipped_peers([built, skipped], [skipped])

    # 7,000,000 passages at 2,000 per second.
    assert text == (
        "The peers were not built at 1,000,000 records: chromadb inserted 2,000 "
        "passages/s at 100,000 records in this run, so the 7,000,000 passages of "
        "1,000,000 records would take about 58 minutes (`--peers-up-to`)."
    )


def test_served_search_section_ratios():
    from benchmarks import served_search

    milliseconds = 0.001
    result = {
        "machine": "test machine",
        "commit": "commit abc1234",
        "records": 100_000,
        "threads": 1,
        "load_average": (0.5, 0.4, 0.3),
        "floor": [5 * milliseconds] * 10,
        "search": [11 * milliseconds] * 10,
        "livez": [0.5 * milliseconds] * 10,
        "http": [12.5 * milliseconds] * 10,
        "spans": {
            "search": [10 * milliseconds] * 10,
            "worker_thread": [10.4 * milliseconds] * 10,
            "app": [11.2 * milliseconds] * 10,
        },
    }

    section = served_search.render(result, "python -m benchmarks.served_search")

    assert section.startswith("## A search over HTTP\n")
    assert "at 100,000 synthetic records" in section
    assert "| floor | 5.00 | 5.00 | 1.00x |" in section
    assert "| search in process | 11.00 | 11.00 | 2.20x |" in section
    assert "| `GET /livez` over HTTP | 0.50 | 0.50 | 0.10x |" in section
    assert "| `GET /v1/search` over HTTP | 12.50 | 12.50 | 2.50x |" in section
    assert "| the route's call onto the worker thread | 10.40 |" in section
    assert "| at the client | 12.50 |" in section
    assert "would have 1.50 ms above the floor" in section
    assert "takes 0.50 ms of that, which leaves 1.00 ms" in section
