"""pepline-shared: the common library of every pepline service (pure code, no I/O at import)."""
