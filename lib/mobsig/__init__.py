"""mobsig: Spark jobs that turn mobile signaling data into population and activity indicators."""

__version__ = "0.1.0"
