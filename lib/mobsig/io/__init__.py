"""The I/O wing: the Delta catalog and storage access, and the readers of every delivered
input (raw events, cell table, unit layers, reference tables, holidays). Domain modules
never import from here; jobs and tools do."""
