"""No unsafe deserialisation or code execution on data anywhere in the shipped source."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.unsafe_scan import scan_source, scan_tree

REPO = Path(__file__).resolve().parents[2]


def test_source_tree_has_no_unsafe_deserialisation() -> None:
    roots = [REPO / name for name in ("memos", "bench", "examples") if (REPO / name).is_dir()]
    assert roots and (REPO / "memos") in roots
    findings = scan_tree(roots, REPO)
    assert not findings, "unsafe constructs:\n" + "\n".join(str(f) for f in findings)


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("import pickle\n", "import of pickle"),
        ("import cPickle as cp\n", "import of cPickle"),
        ("from dill import loads\n", "import from dill"),
        ("import marshal\nmarshal.loads(b'')\n", "call of marshal.loads"),
        ("import pickle as p\np.loads(data)\n", "call of pickle.loads"),
        ("import torch\ntorch.load('x.pt')\n", "torch.load without weights_only=True"),
        ("import torch\ntorch.load('x.pt', weights_only=False)\n", "torch.load without"),
        ("from torch import load\nload('x.pt')\n", "torch.load without"),
        ("eval(user_text)\n", "eval() call"),
        ("exec(compile(src, 'f', 'exec'))\n", "exec() call"),
        ("import yaml\nyaml.load(text)\n", "yaml.load without a safe Loader"),
        ("import yaml\nyaml.load(text, Loader=yaml.Loader)\n", "yaml.load without a safe"),
        ("import yaml\nyaml.unsafe_load(text)\n", "yaml.unsafe_load"),
        ("import numpy as np\nnp.load('a.npy', allow_pickle=True)\n", "numpy.load with allow"),
        ("import pandas as pd\npd.read_pickle('f')\n", "pandas.read_pickle"),
    ],
)
def test_scanner_catches_each_pattern(snippet: str, expected: str) -> None:
    findings = scan_source(snippet, "snippet.py")
    assert any(expected in f.what for f in findings), findings
    assert all(str(f).startswith("snippet.py:") for f in findings)


@pytest.mark.parametrize(
    "snippet",
    [
        "import torch\ntorch.load('x.pt', weights_only=True)\n",
        "import yaml\nyaml.safe_load(text)\n",
        "import yaml\nyaml.load(text, Loader=yaml.SafeLoader)\n",
        "import numpy as np\nnp.load('a.npy')\n",
        "import json\njson.loads(text)\n",
        "model.eval()\n",
        "import ast\nast.literal_eval(text)\n",
    ],
)
def test_scanner_accepts_safe_code(snippet: str) -> None:
    assert scan_source(snippet, "snippet.py") == []


def test_findings_name_file_and_line() -> None:
    findings = scan_source("x = 1\n\nimport pickle\n", "pkg/mod.py")
    assert [str(f) for f in findings] == ["pkg/mod.py:3: import of pickle"]
