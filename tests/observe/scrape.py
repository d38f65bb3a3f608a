"""Scrapes an Ember /metrics endpoint and parses it with prometheus_client's
text parser (the reference parser of the format, not ours), then prints every
sample as one JSON list: [{"name", "labels", "value"}], for the Rust test to
compare with the run's summary. Exits non-zero when the text does not parse.

    python scrape.py http://127.0.0.1:9400/metrics
"""
import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def main(url: str) -> None:
    with urllib.request.urlopen(url, timeout=10) as response:
        content_type = response.headers.get("Content-Type", "")
        text = response.read().decode("utf-8")
    if not content_type.startswith("text/plain"):
        sys.exit(f"unexpected Content-Type {content_type!r}")
    samples = []
    types = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for s in family.samples:
            samples.append({"name": s.name, "labels": s.labels, "value": s.value})
    print(json.dumps({"types": types, "samples": samples}))


if __name__ == "__main__":
    main(sys.argv[1])
