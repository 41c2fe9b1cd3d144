"""Great Expectations suites (JSON), packaged as mobsig.expectations; see mobsig.quality."""
