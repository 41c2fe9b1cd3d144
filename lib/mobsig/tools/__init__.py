"""Commands that are not pipeline jobs: run, status, bench, synth, demo, evaluate, config."""
