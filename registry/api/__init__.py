"""The HTTP API (FastAPI): thin routes over verify, index, issuance and db."""
