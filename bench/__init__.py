"""cardiofed's benchmarks: `make bench` runs every section through bench/run.py into bench/results.json."""
