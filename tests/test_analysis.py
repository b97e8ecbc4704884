"""The static delegation check and the cell normaliser, on small pieces of student code."""

from __future__ import annotations

import pytest

from rnncourse.grading.analysis import find_delegation
from rnncourse.grading.cells import to_plain_python

NUMPY_PART = ("rnncourse", "torch", "scipy")
TORCH_PART = ("rnncourse", "scipy", "torch.nn.RNN", "torch.nn.modules.rnn", "torch._VF", "torch.rnn_tanh")

HONEST = [
    "import numpy as np\ndef f(x):\n    return np.tanh(x)",
    'import numpy as np\ndef f(x):\n    """Unlike torch.nn.RNN or scipy.special.expit, by hand (not rnncourse)."""\n    return np.tanh(x)',
    "import numpy as np\ndef f(x):\n    if x.ndim != 2:\n        raise ValueError('use torch.nn.RNN for that')\n    return np.tanh(x)",
    "import torch\nimport numpy as np\ndef f(x):\n    return np.tanh(x)",  # imports an absent package, never uses it
    "import numpy as np\nfrom rnncourse.checks import ex01 as check\ndef f(x):\n    return np.tanh(x)\ncheck.check_softmax(f)",
    "from numpy import *\ndef f(x):\n    return tanh(x)",
    "import numpy\nTABLE = {'act': numpy.tanh}\ndef f(x):\n    return TABLE['act'](x)",
    "import numpy as np\nclass F:\n    def __call__(self, x):\n        return np.tanh(x)\nf = F()",
    "import numpy as np\nfrom functools import partial\ndef g(x, k):\n    return np.tanh(k * x)\nf = partial(g, k=1.0)",
    "import numpy as np\ndef f(x):\n    return np.tanh(x).__array__()",
    # names that only look like indirections, found by a red-team pass
    "import numpy as np\ncode = 'ABC'\nprint(code.lower())\nsite = compile = 3\ndef f(x):\n    return np.tanh(x)",
    "import numpy as np\nimport matplotlib.pyplot as plt\nfor name in ['plot', 'scatter']:\n    getattr(plt, name)([1, 2])\n"
    "def f(x):\n    return np.tanh(x)",
    "import numpy as np\nimport inspect\ndef f(x):\n    return np.tanh(x)\nprint(inspect.signature(f))",
    "import numpy as np\nclass Meter:\n    def __radd__(self, other):\n        return other\nMeter().__radd__(1)\n"
    "def f(x):\n    return np.tanh(x)",
    "import numpy as np\ntry:\n    import torch\n    x = torch.randn(5, 3, 4)\n    out, h = torch.nn.RNN(4, 6)(x)\n"
    "except ImportError:\n    pass\ndef f(x, h):\n    return np.tanh(x + h)",
    "import numpy as np\nimport gc\nfrom operator import itemgetter\ngc.collect()\nprint(vars())\n"
    "def f(x):\n    return np.tanh(itemgetter(0)([x]))",
    "import numpy as np\ndef f(o):\n    e = np.exp(o - np.max(o, axis=-1, keepdims=True))\n    e = e / e.sum(axis=-1, keepdims=True)\n"
    "    e = e.T.T.real\n    return e",
]
DELEGATING = [
    "import rnncourse.dynamics as d\ndef f(x):\n    return d.elman_step(x)",
    "from rnncourse.dynamics import elman_step as f",
    "import rnncourse.dynamics as d\nf, g = d.elman_step, 1",
    "import rnncourse.dynamics as d\ndef install():\n    global f\n    f = d.elman_step\ninstall()",
    "import rnncourse\nbox = [rnncourse.dynamics]\ndef f(x):\n    return box[0].elman_step(x)",
    "import rnncourse\ndef where():\n    return rnncourse.dynamics\ndef f(x):\n    return where().elman_step(x)",
    "import importlib\ndef f(x):\n    return importlib.import_module('rnn' + 'course.dynamics').elman_step(x)",
    "def f(x):\n    return __import__('rnn' + 'course').dynamics.elman_step(x)",
    "import pkgutil\nf = pkgutil.resolve_name('rnncourse.dynamics:elman_step')",
    "import sys\ndef f(x):\n    return sys.modules['rnncourse.dynamics'].elman_step(x)",
    "import sys as s\nm = s\ndef f(x):\n    return m.modules['rnncourse.dynamics'].elman_step(x)",
    "def f(x):\n    return globals()['helper'](x)",
    "import numpy as np\ndef f(x):\n    return x.__class__.__mro__[-1].__subclasses__()",
    "import os\nos.system('python -c pass')\ndef f(x):\n    return x",
    "exec('import rnncourse')\ndef f(x):\n    return x",
    "from scipy.special import expit\ndef f(x):\n    return expit(x)",
    "import numpy as np\nnp.tanh = __import__('rnncourse').dynamics.elman_step\ndef f(x):\n    return np.tanh(x)",
    "import rnncourse\ndef f(x):\n    return getattr(rnncourse, 'dyn' + 'amics').elman_step(x)",
    "import inspect\ndef f(x):\n    return inspect.currentframe().f_back.f_globals['ref'](x)",
    "import gc\ndef f(x):\n    return [o for o in gc.get_objects() if getattr(o, '__name__', '') == 'elman_step'][0](x)",
    "import pickle\nf = pickle.loads(b'crnncourse.dynamics\\nelman_step\\n.')",
    "from operator import attrgetter\nimport rnncourse\nf = attrgetter('dynamics.elman_step')(rnncourse)",
]


@pytest.mark.parametrize("source", HONEST)
def test_honest_code_is_credited(source):
    assert find_delegation([to_plain_python(source).source], ["f"], NUMPY_PART) == {}


@pytest.mark.parametrize("source", DELEGATING)
def test_every_route_to_the_reference_is_refused(source):
    assert "f" in find_delegation([to_plain_python(source).source], ["f"], NUMPY_PART), source


def test_magics_cannot_hide_code():
    cells = ["%time from rnncourse.dynamics import elman_step as f", "%config X.y = __import__('rnncourse')"]
    assert "f" in find_delegation([to_plain_python(c).source for c in cells], ["f"], NUMPY_PART)


TORCH_HONEST = [
    "import torch\ndef f(x, W):\n    return torch.tanh(x @ W.T)",
    "import torch\nfrom torch import nn\nclass Cell(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.lin = nn.Linear(2, 2)\n    def forward(self, x):\n        return torch.tanh(self.lin(x))\n"
    "def f(x):\n    return Cell()(x)",
    "import torch\ndef f(x):\n    model = torch.nn.Sequential(torch.nn.Linear(2, 2))\n    return [m for m in model.modules()]",
]
TORCH_DELEGATING = [
    "import torch\ndef f(x):\n    return torch.nn.RNN(2, 3)(x)",
    "from torch import nn\ndef f(x):\n    return nn.RNN(2, 3)(x)",
    "from torch.nn import *\ndef f(x):\n    return RNN(2, 3)(x)",
    "import torch\nlayers = [torch.nn]\ndef f(x):\n    return layers[0].RNN(2, 3)(x)",
    "import torch.nn.modules.rnn as r\ndef f(x):\n    return r.RNN(2, 3)(x)",
    "import torch\ndef f(x):\n    return torch._VF.rnn_tanh(x)",
    "import torch\ndef f(x, m=torch.nn):\n    return m.RNN(2, 3)(x)",
]


@pytest.mark.parametrize("source", TORCH_HONEST)
def test_allowed_package_code_is_credited(source):
    assert find_delegation([source], ["f"], TORCH_PART) == {}


@pytest.mark.parametrize("source", TORCH_DELEGATING)
def test_forbidden_names_inside_an_allowed_package_are_refused(source):
    assert "f" in find_delegation([source], ["f"], TORCH_PART), source


@pytest.mark.parametrize("cell, plain, skipped", [
    ("%matplotlib inline\nx = 1", "None\nx = 1\n", []),
    ("np.tanh?", "None\n", []),
    ("!pip install numpy", "None\n", ["!pip install numpy"]),
    ("files = !ls", "files = None\n", ["!ls"]),
    ("%time y = f(2)", "y = f(2)\n", []),
    ("z = %time f(2)", "z = (f(2))\n", []),
    ("%%timeit\nf(1)\n", "\n\n", []),
    ("%%time\ndef g():\n    return 1\n", "\ndef g():\n    return 1\n", []),
    ("%%writefile helper.py\nimport os\n", "\n\n", ["%%writefile helper.py"]),
    ("def f(x):\r\n    return x\r\n", "def f(x):\n    return x\n", []),
])
def test_magics_become_plain_python_with_line_numbers_kept(cell, plain, skipped):
    result = to_plain_python(cell)
    assert (result.source, result.skipped) == (plain, skipped)


def test_self_referencing_aliases_end():
    source = "import torch\nm = torch\nfor _ in range(3):\n    m = m.nn\ndef f(x):\n    return m.RNN(x)"
    assert "f" in find_delegation([source], ["f"], TORCH_PART)
