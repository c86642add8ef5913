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

    class Count(torch_internals.TorchDispatchMode):
        calls = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Count.calls += 1
            return func(*args, **(kwargs or {}))

    with Count():
        torch.zeros(3) + 1
    assert Count.calls >= 2


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
