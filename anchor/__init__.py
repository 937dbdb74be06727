"""anchor: digests, CIDs, content stores, Merkle batches, receipts and the chain client.

This library knows nothing of DCCs, databases or HTTP; the registry builds on it.
"""
