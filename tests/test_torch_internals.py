"""The private torch names qgac_fast.torch_internals wraps still exist and still behave as used:
on a torch that moved one, this fails naming it (setup.py's torch range rests on it)."""

import torch

from qgac_fast import torch_internals


def test_private_names_exist_and_behave():
    assert callable(torch.cpu._is_amx_tile_supported) and callable(torch.cpu._is_avx512_bf16_supported)
    assert isinstance(torch_internals.has_amx_tile(), bool) and isinstance(torch_internals.has_avx512_bf16(), bool)
    assert issubclass(torch_internals.dynamo_error(), Exception)
    assert torch_internals.fan_in(torch.empty(8, 3, 5, 5, device="meta")) == 75
    assert torch_internals.tree_leaves(({"a": torch.zeros(1)}, [1, (2, torch.ones(2))]))[0].shape == (1,)

    class Count(torch_internals.EagerDispatchMode):
        calls = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Count.calls += 1
            return func(*args, **(kwargs or {}))

    with Count():
        torch.zeros(3) + 1
    assert Count.calls >= 2


def test_eager_dispatch_mode_does_not_import_dynamo():
    """The probe's first op must not pull in torch._dynamo (1.5 s of start-up): on a torch that
    wraps __torch_dispatch__ regardless of the hook, this fails. A fresh interpreter, because
    other tests import dynamo."""
    import pathlib
    import subprocess
    import sys

    code = ("import sys, torch\n"
            "from qgac_fast.inference.memory import PeakTracker\n"
            "with PeakTracker() as tracker:\n"
            "    torch.zeros(1024) + 1\n"
            "print(tracker.peak, 'torch._dynamo' in sys.modules)\n")
    root = pathlib.Path(torch_internals.__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=root).stdout.split()
    assert out == ["8192", "False"]  # the zeros and the sum, 4096 bytes each, alive together


def test_no_module_reaches_into_torch_privately_but_this_one():
    import pathlib
    import re

    root = pathlib.Path(torch_internals.__file__).parent
    private = re.compile(r"\b(torch|nn|F)(\.\w+)*\._[a-z]\w*")  # torch._dynamo, nn.init._calculate...
    offenders = [f"{path.relative_to(root)}:{number}" for path in sorted(root.rglob("*.py"))
                 if path.name != "torch_internals.py"
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if private.search(line.split("#")[0])]
    assert offenders == []
