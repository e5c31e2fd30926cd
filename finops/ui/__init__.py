"""Terminal presentation (rich). Only the CLI imports this package; the library never does."""
