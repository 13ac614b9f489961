from indexer.normalize import expand_identifiers, normalize_text, split_identifier


def test_normalize_removes_volatile_tokens():
    text = (
        "Pod orders-db-7d9f8b6c5-x2k4p on 10.3.4.17:9100 request "
        "3f2b1c9a-1234-4abc-9def-0123456789ab at 2024-03-12T02:14:00Z is 95.3% full"
    )
    cleaned = normalize_text(text)
    assert "orders-db" in cleaned
    assert "7d9f8b6c5" not in cleaned
    assert "x2k4p" not in cleaned
    assert "10.3.4.17" not in cleaned
    assert "3f2b1c9a" not in cleaned
    assert "2024" not in cleaned
    assert "95.3" not in cleaned


def test_normalize_keeps_error_codes_and_words():
    cleaned = normalize_text("HTTP 503 from kube-proxy, x509 certificate, OOMKilled")
    assert "503" in cleaned
    assert "kube-proxy" in cleaned
    assert "x509" in cleaned
    assert "OOMKilled" in cleaned


def test_normalize_removes_go_templates():
    cleaned = normalize_text(
        "Disk on {{ $labels.instance }} is {{ $value | humanize }} full"
    )
    assert "{{" not in cleaned
    assert "labels" not in cleaned
    assert cleaned == "Disk on is full"


def test_same_problem_twice_normalizes_equal():
    first = "Pod web-5f7c9d8b4-abc12 restarted at 2024-01-01T00:00:00Z on 10.0.0.1"
    second = "Pod web-6a8d7e9c1-zz9q8 restarted at 2025-06-30T12:34:56Z on 10.0.0.2"
    assert normalize_text(first) == normalize_text(second)


def test_split_identifier_camel_case():
    assert split_identifier("KubePodCrashLooping") == [
        "kube",
        "pod",
        "crash",
        "looping",
    ]
    assert split_identifier("HTTPServerErrors") == ["http", "server", "errors"]


def test_expand_identifiers_appends_words():
    expanded = expand_identifiers("KubeNodeNotReady fired")
    assert expanded.startswith("KubeNodeNotReady fired")
    assert "kube node not ready" in expanded
