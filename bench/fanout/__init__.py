"""The processes and parsers of ``python -m bench.stock_fanout``."""
