"""One dataset loader: MNIST / Fashion-MNIST from IDX files (cached download), sklearn's 8x8 digits embedded.

Every dataset comes back as a `Dataset` of float32 images in [0, 1] (flattened) and int32 labels, split into
train / validation / test from a seed. IDX files are looked up in `data_dir` (argument, else env
`POLYSTEP_DATA`, else `~/.cache/polystep`) under `<data_dir>/<name>/`, gzip-compressed or not.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from polystep.validate import InputError

DATASETS = ("digits", "mnist", "fashion_mnist", "mnist_fashion")

_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# Accepted MD5 digests per file: of the uncompressed IDX bytes and / or of the published .gz file.
_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": {"6bbc9ace898e44ae57da46a324031adb", "f68b3c2dcbeaaa9fbdd348bbdeb94873"},
        "train-labels-idx1-ubyte": {"a25bea736e30d166cdddb491f175f624", "d53e105ee54ea40749a09fcbcd1e9432"},
        "t10k-images-idx3-ubyte": {"2646ac647ad5339dbf082846283269ea", "9fb629c4189551a2d022fa330f9573f3"},
        "t10k-labels-idx1-ubyte": {"27ae3e4e09519cfbb04c329615203637", "ec29112dd5afa0611ce80d1b7f02629c"},
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": {"8d4fb7e6c68d591d4c3dfef9ec88bf0d"},
        "train-labels-idx1-ubyte": {"25c81989df183df01b3e8a0aad5dffbe"},
        "t10k-images-idx3-ubyte": {"bef4ecab320f06d8554ea6380940ec79"},
        "t10k-labels-idx1-ubyte": {"bb300cfdad3c16e7a12a480ee83cd310"},
    },
}

_URLS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion_mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}


@dataclass(frozen=True)
class Dataset:
    """Flattened float32 images in [0, 1] and int32 labels, split into train / validation / test."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def n_features(self) -> int:
        """Number of input features (pixels)."""
        return int(self.x_train.shape[1])


class DataFileError(InputError):
    """A dataset file is missing or corrupt; the message names the file and how to get it."""


def default_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """`data_dir` if given, else env POLYSTEP_DATA, else ~/.cache/polystep."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("POLYSTEP_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "polystep"


def _how_to_get(name: str, folder: Path) -> str:
    return (
        f"download the four IDX .gz files from {_URLS[name]} into {folder} "
        f"(or call load_dataset({name!r}, download=True) while online, or point --data-dir / POLYSTEP_DATA "
        "at a directory holding them)"
    )


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.exists():
            return candidate
    return None


def _download(name: str, folder: Path, stem: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{stem}.gz"
    tmp = target.with_suffix(".gz.part")
    try:
        with urllib.request.urlopen(_URLS[name] + f"{stem}.gz", timeout=60) as response, open(tmp, "wb") as out:
            out.write(response.read())
    except OSError as err:
        if tmp.exists():
            tmp.unlink()
        raise DataFileError(f"{target}: download failed ({err}); {_how_to_get(name, folder)}") from None
    os.replace(tmp, target)
    return target


def read_idx(path: Path, expected_md5: set[str] | None = None) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed), checking its MD5 and header; errors name the file."""
    path = Path(path)
    raw_file = path.read_bytes()
    try:
        raw = gzip.decompress(raw_file) if path.suffix == ".gz" else raw_file
    except (OSError, EOFError) as err:
        raise DataFileError(f"{path}: corrupt gzip data ({err})") from None
    if expected_md5:
        digests = {hashlib.md5(raw).hexdigest(), hashlib.md5(raw_file).hexdigest()}
        if not digests & expected_md5:
            raise DataFileError(f"{path}: MD5 {hashlib.md5(raw).hexdigest()} does not match the published file")
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataFileError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFileError(f"{path}: truncated IDX header")
    shape = struct.unpack(">" + "I" * ndim, raw[4:header])
    size = int(np.prod(shape))
    if len(raw) != header + size:
        raise DataFileError(f"{path}: IDX header promises {size} bytes of data, file holds {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load_idx_dataset(
    name: str, data_dir: str | os.PathLike | None = None, download: bool = False, verify: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, train labels, test images, test labels) as uint8 arrays for 'mnist' / 'fashion_mnist'."""
    if name not in _URLS:
        raise ValueError(f"name: unknown IDX dataset {name!r}; allowed: {', '.join(_URLS)}")
    folder = default_data_dir(data_dir) / name
    arrays = {}
    for key, stem in _FILES.items():
        path = _find(folder, stem)
        if path is None:
            if not download:
                raise DataFileError(f"{folder / (stem + '.gz')}: missing; {_how_to_get(name, folder)}")
            path = _download(name, folder, stem)
        try:
            arrays[key] = read_idx(path, _MD5[name][stem] if verify else None)
        except DataFileError as err:
            raise DataFileError(f"{err}; delete it and {_how_to_get(name, folder)}") from None
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise DataFileError(f"{folder}: {split} images {images.shape} and labels {labels.shape} disagree")
    return arrays["train_images"], arrays["train_labels"], arrays["test_images"], arrays["test_labels"]


def _split_val(x: np.ndarray, y: np.ndarray, val_size: int, seed: int):
    if not 0 < val_size < len(x):
        raise ValueError(f"val_size: {val_size} must lie in [1, {len(x) - 1}]")
    perm = np.random.default_rng(seed).permutation(len(x))
    val, train = perm[:val_size], perm[val_size:]
    return x[train], y[train], x[val], y[val]


def load_dataset(
    name: str = "digits",
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    val_size: int | None = None,
    download: bool = False,
    max_train: int | None = None,
) -> Dataset:
    """Load `name` (digits | mnist | fashion_mnist | mnist_fashion) with a seeded train / validation split.

    IDX datasets keep their official test set and hold out `val_size` training images (default 6000);
    'digits' (1797 8x8 images, embedded in scikit-learn) is split 60/20/20. `max_train` caps the train split.
    'mnist_fashion' stacks both datasets, Fashion labels shifted by 10 (20 classes).
    """
    if name not in DATASETS:
        raise ValueError(f"name: unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = (digits.data / 16.0).astype(np.float32)
        y = digits.target.astype(np.int32)
        perm = np.random.default_rng(seed).permutation(len(x))
        n_test = len(x) // 5
        test, rest = perm[:n_test], perm[n_test:]
        x_tr, y_tr, x_va, y_va = _split_val(x[rest], y[rest], val_size or n_test, seed + 1)
        x_te, y_te, n_classes = x[test], y[test], 10
    else:
        parts = ["mnist", "fashion_mnist"] if name == "mnist_fashion" else [name]
        xs_tr, ys_tr, xs_te, ys_te = [], [], [], []
        for offset, part in enumerate(parts):
            tr_x, tr_y, te_x, te_y = load_idx_dataset(part, data_dir, download=download)
            xs_tr.append(tr_x.reshape(len(tr_x), -1))
            ys_tr.append(tr_y.astype(np.int32) + 10 * offset)
            xs_te.append(te_x.reshape(len(te_x), -1))
            ys_te.append(te_y.astype(np.int32) + 10 * offset)
        x_all = (np.concatenate(xs_tr) / np.float32(255.0)).astype(np.float32)
        y_all = np.concatenate(ys_tr)
        x_tr, y_tr, x_va, y_va = _split_val(x_all, y_all, val_size or 6000 * len(parts), seed)
        x_te = (np.concatenate(xs_te) / np.float32(255.0)).astype(np.float32)
        y_te = np.concatenate(ys_te)
        n_classes = 10 * len(parts)
    if max_train is not None:
        x_tr, y_tr = x_tr[:max_train], y_tr[:max_train]
    return Dataset(name, x_tr, y_tr, x_va, y_va, x_te, y_te, n_classes)


def minibatches(n: int, batch_size: int, seed: int, drop_last: bool = True) -> np.ndarray:
    """Shuffled index batches of one epoch, shape (n_batches, batch_size); batch capped at n."""
    batch_size = min(batch_size, n)
    perm = np.random.default_rng(seed).permutation(n)
    n_batches = n // batch_size if drop_last else -(-n // batch_size)
    return perm[: n_batches * batch_size].reshape(n_batches, batch_size)
