"""One module per ``mmharness`` subcommand, each exposing a click command named ``command``."""
