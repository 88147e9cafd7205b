"""Where the params put things on disk, checked once at the command line's edge, before any file is touched.

* Outputs never overlap inputs or each other (:func:`check_folders`): no command may write over what another wrote
  or what the user keeps. ``data.dir/<dataset>`` has its files replaced, ``train.models_dir`` its checkpoints,
  ``reports/`` its JSON and figures.
* Under ``dvc repro``, every key a stage reads from the params file is written out there
  (:func:`dvc_params_missing`): DVC reads them from the file, not from mcdropout's defaults.
* A queued DVC experiment runs in a temporary copy of the repository (``.dvc/tmp/exps/tmp*``), deleted when it ends:
  its MLflow runs go to the user's store, not to a copy that goes with it (:func:`tracking_in_user_repo`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mcdropout.core.config import ConfigError, Params, read_yaml

REPORTS_DIR = "reports"  # the report's folder (``mcdropout report --reports-dir``; mcdropout.core.paths.Paths.reports)


def user_repo(cwd: Path | None = None) -> Path | None:
    """The repository whose queued experiment (`dvc exp run --queue`, `--temp`) runs in ``cwd``; None elsewhere."""
    parts = (cwd or Path.cwd()).resolve().parts
    for i in range(len(parts) - 3):
        if parts[i:i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return None


def tracking_in_user_repo(params: Params, cwd: Path | None = None) -> Params:
    """Inside a queued experiment's temporary copy, a relative SQLite store and artifact folder are read from the
    user's repository: the runs (tagged with the experiment's name) stay after DVC deletes the copy."""
    root = user_repo(cwd)
    if root is None:
        return params
    changes = {}
    uri = params.mlflow.tracking_uri
    scheme, sep, path = uri.partition(":///")
    if sep and scheme.split("+")[0].lower() == "sqlite" and not Path(path).is_absolute():
        changes["mlflow.tracking_uri"] = f"{scheme}:///{root / path}"
    location = params.mlflow.artifact_location
    if "://" not in location and not Path(location).expanduser().is_absolute():
        changes["mlflow.artifact_location"] = str(root / location)
    return params.override(**changes) if changes else params


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _where(text: str) -> Path:
    return Path(text).expanduser().resolve()  # symlinked folders compared where they lead


def check_folders(params: Params, reports: str = REPORTS_DIR) -> None:
    """Outputs never overlap inputs or each other, so that no command writes over what another wrote or what the
    user keeps: ``data.dir``, ``train.models_dir``, the artifacts folder and ``reports/`` are apart, and no source
    file or folder lies where a command writes (``data.dir/<dataset>`` swaps its files, ``models_dir``).
    Checked once, here, before any command touches a file (one :class:`ConfigError`)."""
    folders = {"data.dir": params.data.dir, "train.models_dir": params.train.models_dir,
               "the reports folder": reports}
    if "://" not in params.mlflow.artifact_location:
        folders["mlflow.artifact_location"] = params.mlflow.artifact_location
    named = [(key, text, _where(text)) for key, text in folders.items()]
    for i, (key, text, where) in enumerate(named):
        for other, other_text, other_where in named[i + 1:]:
            if _inside(where, other_where) or _inside(other_where, where):
                raise ConfigError(f"{key} ({text}) and {other} ({other_text}) overlap; each needs a folder of its "
                                  f"own (a command writing one would replace what the other holds)")
    data = _where(params.data.dir)
    written = [(data / name, f"{Path(params.data.dir) / name}, which `mcdropout data --dataset {name}` writes")
               for name in params.datasets]
    written.append((_where(params.train.models_dir), f"train.models_dir ({params.train.models_dir})"))
    for name, spec in params.datasets.items():
        for key in ("path", "train", "val", "test", "dir"):
            text = getattr(spec, key)
            if text is None:
                continue
            if key == "dir" and spec.name is not None:  # a UCI dataset's folder is <dir>/<name>
                text = str(Path(text) / spec.name)
            for folder, what in written:
                if _inside(_where(text), folder) or _inside(folder, _where(text)):
                    raise ConfigError(f"datasets.{name}.{key}: {text} overlaps {what}; keep the dataset's source "
                                      f"outside the folders mcdropout writes")


def dvc_params_missing(params_file: str | Path, dvc_yaml: str | Path, datasets: list[str]) -> list[str]:
    """The keys that ``dvc.yaml``'s stages read from ``params_file`` but that it does not write out.

    DVC reads each stage's params from the file itself, not from mcdropout's defaults: a key that the file
    leaves to the defaults fails that stage after DVC has removed its outputs. ``${key}`` stands for each of
    ``datasets`` (the ``foreach`` stages), or for each key of the section another ``foreach`` names (``active``).
    """
    raw, stages = read_yaml(Path(params_file)) or {}, (yaml.safe_load(Path(dvc_yaml).read_text(encoding="utf-8")) or {})
    keys: list[str] = []
    for stage in (stages.get("stages") or {}).values():
        body = stage.get("do", stage) if isinstance(stage, dict) else {}
        names = datasets
        foreach = stage.get("foreach") if isinstance(stage, dict) else None
        if isinstance(foreach, str) and foreach.strip() != "${datasets}":  # e.g. ${active}: its own keys
            name = foreach.strip()[2:-1]
            section = raw.get(name) if isinstance(raw, dict) else None
            if not isinstance(section, dict):  # DVC cannot even parse the stage (an empty mapping will do)
                keys.append(name)
                continue
            names = list(section)
        for item in body.get("params") or ():
            for key in [item] if isinstance(item, str) else []:  # keys of other files: not ours to check
                keys += [key.replace("${key}", name) for name in names] if "${key}" in key else [key]
    missing = []
    for key in dict.fromkeys(keys):
        node: Any = raw
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            missing.append(key)
    return missing
