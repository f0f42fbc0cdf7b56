"""2-D embeddings of digits (PCA, t-SNE, UMAP), seeded, and a way to run
the slow ones so that a stop request ends them at once.

No torch here: ``embed_stoppable`` runs ``embed`` in a child process that
imports only this module (numpy, scikit-learn, umap-learn), so the child
starts in about a second and a Ctrl-C or a stop from the lab bench ends
the fit by ending the child, instead of waiting the 20-odd seconds a t-SNE
or UMAP fit can take (neither library checks for interrupts in its
compiled loops)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

EMBEDDINGS = ("pca", "tsne", "umap")
SLOW = ("tsne", "umap")  # run in a child process by embed_stoppable
CHILD = "import sys; from engine.trainers.embeddings import _child_main; _child_main(sys.argv[1])"


def embed(x_train: np.ndarray, x_test: np.ndarray, method: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train_2d, test_2d) for ``method`` in pca / tsne / umap, seeded.
    See the module docstring for how test rows are placed (t-SNE is fitted
    on train and test rows together)."""
    if method == "pca":
        from sklearn.decomposition import PCA

        model = PCA(n_components=2, random_state=seed).fit(x_train)
        return model.transform(x_train), model.transform(x_test)
    if method == "tsne":
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits

        both = np.concatenate([x_train, x_test])
        perplexity = min(30.0, (len(both) - 1) / 3)  # t-SNE needs perplexity < n
        # One OpenMP thread: with torch's and scikit-learn's OpenMP runtimes both
        # loaded (and numba's threads after UMAP), their idle threads spin against
        # t-SNE's and a 210-point fit took 23 s instead of 0.5 s; one thread is
        # as fast on a few thousand points, and keeps the result reproducible.
        with threadpool_limits(limits=1, user_api="openmp"):
            tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
            plane = tsne.fit_transform(both)
        return plane[: len(x_train)], plane[len(x_train) :]
    if method == "umap":
        import warnings

        import umap

        with warnings.catch_warnings():
            # umap warns that a random_state disables its parallelism: intended, for reproducibility
            warnings.simplefilter("ignore", UserWarning)
            model = umap.UMAP(n_components=2, random_state=seed, n_jobs=1).fit(x_train)
            return model.embedding_.copy(), model.transform(x_test)
    raise ValueError(f"unknown embedding {method!r} (choose from {', '.join(EMBEDDINGS)})")


def _child_main(folder: str) -> None:
    """In the child: read the inputs from ``folder``, write the embedding there (atomically, then exit)."""
    import os
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the parent's to handle (it ends this process)
    args = np.load(os.path.join(folder, "in.npz"))
    method, seed = str(args["method"]), int(args["seed"])
    train_2d, test_2d = embed(args["x_train"], args["x_test"], method, seed)
    np.savez(os.path.join(folder, "out.tmp.npz"), train=train_2d, test=test_2d)
    os.replace(os.path.join(folder, "out.tmp.npz"), os.path.join(folder, "out.npz"))


def embed_stoppable(x_train: np.ndarray, x_test: np.ndarray, method: str, seed: int,
                    stopped: Callable[[], bool], poll: float = 0.1) -> tuple[np.ndarray, np.ndarray] | None:
    """``embed``, the same numbers; t-SNE and UMAP in a child Python process
    (importing only this module) that is ended as soon as ``stopped()`` is
    true, which returns None. PCA takes milliseconds and runs here."""
    if method not in SLOW:
        return embed(x_train, x_test, method, seed)
    import os
    import subprocess
    import sys
    import tempfile
    import time
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])  # the folder that holds the engine package
    with tempfile.TemporaryDirectory(prefix=f"benchtui-{method}-") as folder:
        np.savez(os.path.join(folder, "in.npz"), x_train=x_train, x_test=x_test, method=method, seed=seed)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        process = subprocess.Popen(
            [sys.executable, "-c", CHILD, folder],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            while process.poll() is None:
                if stopped():
                    return None
                time.sleep(poll)
        finally:
            if process.poll() is None:
                process.kill()
            _, err = process.communicate()
        out = os.path.join(folder, "out.npz")
        if process.returncode != 0 or not os.path.exists(out):
            last = (err or b"").decode(errors="replace").strip().splitlines()[-1:] or [f"exit code {process.returncode}"]
            raise RuntimeError(f"the {method} fit failed: {last[0]}")
        with np.load(out) as result:
            return result["train"], result["test"]
