"""One module per benchmark case; each runs the same work on both systems."""
