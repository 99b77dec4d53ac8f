"""Red-teaming pieces: prompt templates, context strategies, attack modules, metrics."""
