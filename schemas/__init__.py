"""Table schemas (JSON), packaged as mobsig.schemas; see mobsig.schema."""
