"""mcdropout.tracking.store: a local SQLite store switches to write-ahead logging and leaves no log files behind."""

import sqlite3
import subprocess
import sys
import textwrap

from mcdropout.tracking.store import network_filesystem


def test_network_filesystem_reads_the_mount_of_the_path(tmp_path):
    mounts = tmp_path / "mounts"
    mounts.write_text("/dev/vda / ext4 rw 0 0\nserver:/home /home/shared nfs4 rw 0 0\n"
                      "tmpfs /home/shared/scratch tmpfs rw 0 0\nhost:/x /mnt/my\\040disk cifs rw 0 0\n")
    assert network_filesystem("/home/shared/project/mlflow.db", mounts)
    assert not network_filesystem("/home/shared/scratch/mlflow.db", mounts)  # the longest mount point decides
    assert not network_filesystem("/home/sharedx/mlflow.db", mounts)  # a prefix of a name is not its folder
    assert not network_filesystem("/work/mlflow.db", mounts)
    assert network_filesystem("/mnt/my disk/mlflow.db", mounts)  # spaces are octal escapes in a mount table
    assert not network_filesystem("/home/shared/x.db", tmp_path / "missing")  # no mount table: a local disk


def test_local_sqlite_store_uses_wal_and_folds_the_log_back_at_exit(tmp_path):
    db = tmp_path / "mlflow.db"
    script = textwrap.dedent(f"""
        from mcdropout.core.config import Params
        from mcdropout.tracking.store import client
        from mlflow.entities import Metric
        params = Params().override(**{{"mlflow.tracking_uri": "sqlite:///{db}",
                                       "mlflow.artifact_location": "{tmp_path / 'mlruns'}"}})
        mlc = client(params.mlflow)
        run = mlc.create_run(mlc.create_experiment("x"))
        mlc.log_batch(run.info.run_id, metrics=[Metric("loss", 0.5 * i, 0, i) for i in range(10)])
        import os
        assert os.path.exists("{db}-wal")  # written through the write-ahead log
        from mcdropout.tracking.background import exit_now
        exit_now(0)  # no interpreter teardown: the exit handler still folds the log in
    """)
    subprocess.run([sys.executable, "-c", script], check=True, env={"PATH": "", "HOME": str(tmp_path)},
                   cwd=tmp_path)
    assert sorted(p.name for p in tmp_path.glob("mlflow.db*")) == ["mlflow.db"]
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        values = [v for (v,) in con.execute("SELECT value FROM metrics WHERE key = 'loss' ORDER BY step")]
    assert values == [0.5 * i for i in range(10)]
