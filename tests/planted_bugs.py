"""Plant each of issue 35's one-line bugs, one at a time, and report which the fast tests catch.

    .venv/bin/python tests/planted_bugs.py            # all of them
    .venv/bin/python tests/planted_bugs.py 3 9        # only bugs 3 and 9

Not a test module (pytest does not collect it). Each bug is planted in a copy of ``src/`` in a temporary directory,
never in the working tree (someone else may be running the tests meanwhile); the copy comes first on PYTHONPATH, so
the fast tests of the files named beside the bug import the planted code. A bug counts as caught when pytest fails.
Exit status 0 when every bug is caught (and the unplanted copy passes the same tests).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = "src/mcdropout"
TRUST_TESTS = ["tests/study/test_trust.py"]
UNCERTAINTY_TESTS = ["tests/scoring/test_uncertainty.py", "tests/scoring/test_metrics.py"]
METRIC_TESTS = ["tests/scoring/test_metrics.py", "tests/scoring/test_uncertainty.py", "tests/scoring/test_selective.py"]
SELECTIVE_TESTS = ["tests/scoring/test_selective.py", "tests/study/test_trust.py"]

# (name, file, the line as it is, the line with the bug, the test files to run)
BUGS: list[tuple[str, str, str, str, list[str]]] = [
    ("trust: OOD AUROC with in- and out-of-distribution scores swapped", "study/trust.py",
     "S.ood_auroc(score_in, score_out)", "S.ood_auroc(score_out, score_in)", TRUST_TESTS),
    ("trust: conformal quantile fitted on test instead of val", "study/trust.py",
     "q = R.conformal_quantile(np.abs(y_val - val.mean) / val.std, LEVEL)",
     "q = R.conformal_quantile(np.abs(parts['test'][1] - parts['test'][0].mean) / parts['test'][0].std, LEVEL)",
     TRUST_TESTS),
    ("trust: signed instead of absolute errors for the selective scores", "study/trust.py",
     "return np.abs(y - pred.mean) if task.fits_noise", "return (y - pred.mean) if task.fits_noise", TRUST_TESTS),
    ("trust: the risk curve reversed", "study/trust.py",
     '"risk": risk[pick].tolist()', '"risk": risk[pick][::-1].tolist()', TRUST_TESTS),
    ("uncertainty: Gaussian NLL instead of the MC mixture NLL", "scoring/uncertainty.py",
     '"nll": M.mixture_nll(y, pred.samples, pred.noise_std)', '"nll": M.gaussian_nll(y, pred.mean, std)',
     UNCERTAINTY_TESTS),
    ("uncertainty: mutual-information AUROC computed from entropy", "scoring/uncertainty.py",
     '"auroc_mutual_info": M.auroc(pred.mutual_info, wrong)', '"auroc_mutual_info": M.auroc(pred.entropy, wrong)',
     UNCERTAINTY_TESTS),
    ("uncertainty: mean mutual information equal to the mean entropy", "scoring/uncertainty.py",
     '"mean_mutual_info": float(pred.mutual_info.mean())', '"mean_mutual_info": float(pred.entropy.mean())',
     UNCERTAINTY_TESTS),
    ("metrics: crps_gaussian with the sign of its z-term flipped", "scoring/metrics.py",
     "z * (2 * norm_cdf(z) - 1)", "z * (1 - 2 * norm_cdf(z))", METRIC_TESTS),
    ("metrics: quantile_calibration_error with the PIT direction flipped", "scoring/metrics.py",
     "pit = norm_cdf((y - mean) / std)", "pit = norm_cdf((mean - y) / std)", METRIC_TESTS),
    ("metrics: top-label ECE binning with round for floor", "scoring/metrics.py",
     "correct = probs.argmax(-1) == y\n    idx = np.minimum((conf * bins).astype(int), bins - 1)",
     "correct = probs.argmax(-1) == y\n    idx = np.minimum(np.round(conf * bins).astype(int), bins - 1)",
     METRIC_TESTS),
    ("selective: the risk-coverage sort made unstable", "scoring/selective.py",
     'np.argsort(uncertainty, kind="stable")', "np.argsort(uncertainty)", SELECTIVE_TESTS),
    # Two more of the same kind (the issue names eleven of its thirteen survivors):
    ("trust: variance-scaled coverage without the scale", "study/trust.py",
     "coverage(y, pred.mean, scale * pred.std, LEVEL)", "coverage(y, pred.mean, pred.std, LEVEL)", TRUST_TESTS),
    ("trust: selective scores ranked by the last uncertainty (MI) instead of the first (entropy)", "study/trust.py",
     "kind, rank = next(iter(_uncertainties(task, pred).items()))",
     "kind, rank = list(_uncertainties(task, pred).items())[-1]", TRUST_TESTS),
]


def run_tests(src: Path, files: list[str]) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-m", "not slow", "-p", "no:cacheprovider",
                           *files], cwd=ROOT, env=env, capture_output=True, text=True)
    failed = [line for line in proc.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return proc.returncode, failed[0] if failed else proc.stdout.strip().splitlines()[-1]


def main(argv: list[str]) -> int:
    chosen = [int(a) for a in argv] or list(range(1, len(BUGS) + 1))
    with tempfile.TemporaryDirectory(prefix="planted-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        check = subprocess.run([sys.executable, "-c", "import mcdropout; print(mcdropout.__file__)"], cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(src)}, capture_output=True, text=True)
        assert check.stdout.strip().startswith(str(src)), f"the copy is not imported: {check.stdout}{check.stderr}"
        files = sorted({f for i in chosen for f in BUGS[i - 1][4]})
        rc, last = run_tests(src, files)
        print(f"baseline (nothing planted), {' '.join(files)}: {'pass' if rc == 0 else 'FAIL'} ({last})")
        if rc != 0:
            return 2
        caught = 0
        for i in chosen:
            name, module, old, new, tests = BUGS[i - 1]
            path = src / "mcdropout" / module
            original = path.read_text()
            assert original.count(old) == 1, f"bug {i}: {old!r} occurs {original.count(old)} times in {module}"
            start = time.perf_counter()
            try:
                path.write_text(original.replace(old, new))
                rc, last = run_tests(src, tests)
            finally:
                path.write_text(original)
            caught += rc != 0
            verdict = "caught" if rc != 0 else "SURVIVED"
            print(f"{i:2d}. {verdict:8s} {name}  [{time.perf_counter() - start:.0f} s; {last}]", flush=True)
        print(f"{caught}/{len(chosen)} planted bugs caught")
        return 0 if caught == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
