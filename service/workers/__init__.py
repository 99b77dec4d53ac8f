"""Async workers: the taskiq broker, the prompt task, per-endpoint limits, `sparring worker`."""
