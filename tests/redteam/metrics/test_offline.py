"""The offline metrics reach no network, on first use in a fresh process included."""

import subprocess
import sys
import textwrap

# Runs in a fresh interpreter, where every library loads its data for the first time, with
# every socket connection refused; it scores one case with each offline metric.
SCRIPT = textwrap.dedent(
    """
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network used")

    socket.socket.connect = refuse
    socket.create_connection = refuse

    from service.redteam.metrics import METRICS, Case, OfflineMetric

    for name, metric in sorted(METRICS.items()):
        if isinstance(metric, OfflineMetric):
            metric.score(Case("q", "The answer is 42. Thiss is fine.", "The answer is 42."))
            print(name)
    """
)


def test_offline_metrics_load_and_score_without_the_network():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "network used" not in done.stderr
    assert len(done.stdout.split()) == 11
