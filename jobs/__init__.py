"""spark-submit entry points, one per job; packaged as mobsig.jobs."""
