"""What operators see of a running process: its metrics (metrics.py, Prometheus text at
/metrics) and its log lines (logs.py: text or JSON, each carrying its request's id).
docs/operations.md describes both."""
