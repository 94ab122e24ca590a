"""Command-line subcommands that need only the shared package (data, synthetic hospitals, models)."""
