"""Results in, text out: columns, escaping, and the object that owns the terminal."""
