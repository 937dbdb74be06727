"""Documents: hardened parsing, XSD validation, metadata extraction and signing."""
