"""registry: DCC documents, issuance, the SQL projection of the chain, verification and the API."""

__version__ = "0.1.0"
