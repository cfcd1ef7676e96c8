"""The branches of inception modules as layers of their own.

An inception module runs several branches side by side (1x1, 3x3, 5x5 convolutions and a
pooling path in GoogLeNet) and concatenates their outputs along the channels. `expose` gives a
chosen module one identity child per branch, named `<module>.<branch>` (inception4c.1x1, ...),
through which each branch output passes on its way into the concatenation: the branch outputs
become modules like any other, so layer listing, selection, hooks and the features store take
them unchanged, and the module's output is bit for bit what it was. `branch_layers` adds to a
layer selection the branches of every exposed module, the module's output and its input (the
layer whose output the module reads), so the layer x layer matrices hold, per module, input,
branches and output.

Supported: torchvision `googlenet` (module class Inception) and `inception_v3` (InceptionA-E),
whose modules compute their branches in `_forward` and concatenate them in `forward`.

Decisions:
- Branches are named after the paper (Szegedy et al. 2015, Table 1: 1x1, 3x3, 5x5, pool;
  Szegedy et al. 2016 for Inception-v3), even where the implementation differs: torchvision's
  GoogLeNet '5x5' branch is a 3x3 convolution. `PAPER_NOTES` says how each implementation
  deviates from its paper; `googlenet_deviations` reads the deviations off the modules
  themselves, and a test keeps the two equal.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from brainreps.hooks import blank_forward

# module class name -> branch names, in the order the module concatenates them
BRANCHES: dict[str, tuple[str, ...]] = {
    "Inception": ("1x1", "3x3", "5x5", "pool"),  # torchvision googlenet
    "InceptionA": ("1x1", "5x5", "3x3dbl", "pool"),  # torchvision inception_v3 Mixed_5b-5d
    "InceptionB": ("3x3", "3x3dbl", "pool"),  # Mixed_6a (grid reduction)
    "InceptionC": ("1x1", "7x7", "7x7dbl", "pool"),  # Mixed_6b-6e
    "InceptionD": ("3x3", "7x7x3", "pool"),  # Mixed_7a (grid reduction)
    "InceptionE": ("1x1", "3x3", "3x3dbl", "pool"),  # Mixed_7b, 7c
}

# Szegedy et al. 2015 ("Going deeper with convolutions"), Table 1: per inception module
# #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
GOOGLENET_TABLE1: dict[str, tuple[int, int, int, int, int, int]] = {
    "inception3a": (64, 96, 128, 16, 32, 32),
    "inception3b": (128, 128, 192, 32, 96, 64),
    "inception4a": (192, 96, 208, 16, 48, 64),
    "inception4b": (160, 112, 224, 24, 64, 64),
    "inception4c": (128, 128, 256, 24, 64, 64),
    "inception4d": (112, 144, 288, 32, 64, 64),
    "inception4e": (256, 160, 320, 32, 128, 128),
    "inception5a": (256, 160, 320, 32, 128, 128),
    "inception5b": (384, 192, 384, 48, 128, 128),
}

# How torchvision's implementations deviate from their papers (read off the modules by
# googlenet_deviations / inception_v3_deviations; tests/test_branches.py keeps them equal).
PAPER_NOTES: dict[str, tuple[str, ...]] = {
    "googlenet": (
        "the '5x5' branch is 1x1 -> 3x3 (paper: 5x5; torchvision issue #906)",
        "batch norm after every convolution (paper: none)",
        "no local response normalisation (paper: after pool1 and conv3)",
        "maxpool4 is 2x2/2 (paper: 3x3/2)",
        "branch widths as in Table 1",
    ),
    "inception_v3": ("InceptionA's second branch is 1x1 -> 5x5 (paper Fig. 5: 1x1 -> 3x3)",),
}
PAPERS = {
    "googlenet": "Szegedy et al. 2015, Table 1",
    "inception_v3": "Szegedy et al. 2016, Fig. 5-7",
}


class BranchError(ValueError):
    """A module named for its branches has none, or does not exist."""


def branch_names(module: nn.Module) -> tuple[str, ...] | None:
    """The branch names of an inception module, or None for any other module."""
    names = BRANCHES.get(type(module).__name__)
    if names is None or not callable(getattr(module, "_forward", None)):
        return None
    return names


def branched_modules(model: nn.Module) -> list[str]:
    """Names of the modules of a network that have branches, in definition order."""
    return [n for n, m in model.named_modules() if n and branch_names(m) is not None]


def _forward_with_branches(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
    outputs = self._forward(x)
    return torch.cat(
        [getattr(self, name)(o) for name, o in zip(self._brainreps_branches, outputs, strict=True)],
        1,
    )


def expose(model: nn.Module, modules: Sequence[str]) -> nn.Module:
    """Give each named inception module one identity child per branch (in place).

    A name that is not a module with branches is an error listing the ones there are. The
    network computes exactly what it did; its cached layer order is cleared.
    """
    modules = list(modules)
    if not modules:
        return model
    by_name = dict(model.named_modules())
    valid = branched_modules(model)
    arch = getattr(model, "_brainreps_arch", type(model).__name__)
    bad = [m for m in modules if m not in valid]
    if bad:
        raise BranchError(
            f"model {arch} has no inception module {', '.join(map(repr, bad))} with branches; "
            f"modules with branches: {', '.join(valid) or 'none'}"
        )
    for name in modules:
        module = by_name[name]
        if getattr(module, "_brainreps_branches", None):
            continue
        names = branch_names(module)
        for branch in names:
            module.add_module(branch, nn.Identity())
        module._brainreps_branches = names
        module.forward = types.MethodType(_forward_with_branches, module)
    model._brainreps_exposed = list(
        dict.fromkeys([*getattr(model, "_brainreps_exposed", []), *modules])
    )
    if hasattr(model, "_brainreps_layer_order"):
        del model._brainreps_layer_order
    return model


def module_inputs(model: nn.Module, modules: Sequence[str], input_size: int) -> dict[str, str]:
    """For each named module, the module whose output it reads (found in one forward pass on
    a blank image: the last module to finish whose output tensor is the module's input)."""
    by_name = dict(model.named_modules())
    finished: list[tuple[str, torch.Tensor]] = []
    found: dict[str, str] = {}
    handles = []

    def post(name):
        def hook(module, args, output):
            if torch.is_tensor(output):
                finished.append((name, output))

        return hook

    def pre(name):
        def hook(module, args):
            if name in found or not args or not torch.is_tensor(args[0]):
                return
            for other, out in reversed(finished):
                if out is args[0] and not other.startswith(name + "."):
                    found[name] = other
                    return

        return hook

    for name, module in model.named_modules():
        if name:
            handles.append(module.register_forward_hook(post(name)))
    handles += [by_name[m].register_forward_pre_hook(pre(m)) for m in modules]
    blank_forward(model, input_size, handles)
    return found


def branch_layers(
    model: nn.Module, layers: Sequence[str], order: Sequence[str], input_size: int
) -> list[str]:
    """`layers` plus, for every exposed module, its input, its branches and its output, in
    the network's forward order `order` (brainreps.models.list_layers; a module comes before
    its branches there, and figures put each module's output after its branches)."""
    exposed = list(getattr(model, "_brainreps_exposed", []))
    if not exposed:
        return list(layers)
    inputs = module_inputs(model, exposed, input_size)
    by_name = dict(model.named_modules())
    wanted = set(layers)
    for name in exposed:
        wanted |= {name, *(f"{name}.{b}" for b in by_name[name]._brainreps_branches)}
        if name in inputs:
            wanted.add(inputs[name])
    return [n for n in order if n in wanted]


def module_groups(layers: Sequence[str], modules: Sequence[str]) -> dict[str, list[str]]:
    """Per branched module present in `layers`: its branch layers (`<module>.<branch>`)."""
    groups = {}
    for module in modules:
        names = [n for n in layers if n.startswith(module + ".") and n[len(module) + 1 :]]
        names = [n for n in names if "." not in n[len(module) + 1 :]]
        if names:
            groups[module] = names
    return groups


def paper_note(arch: str) -> str:
    """One line on how an implementation deviates from its paper ('' when none is known)."""
    notes = PAPER_NOTES.get(arch)
    if not notes:
        return ""
    return f"torchvision {arch} vs {PAPERS[arch]}: " + "; ".join(notes)


def _kernel(module: nn.Module) -> tuple[int, ...]:
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    return tuple(convs[-1].kernel_size)


def _out_channels(module: nn.Module) -> int:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)][-1].out_channels


def _in_reduce(module: nn.Module) -> int:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)][0].out_channels


def googlenet_deviations(model: nn.Module) -> list[str]:
    """How a torchvision GoogLeNet deviates from Szegedy et al. 2015, read off its modules."""
    mods: Mapping[str, nn.Module] = dict(model.named_modules())
    found = []
    k5 = {_kernel(mods[f"{m}.branch3"]) for m in GOOGLENET_TABLE1}
    if k5 != {(5, 5)}:
        kernel = "x".join(map(str, sorted(k5)[0]))
        found.append(f"the '5x5' branch is 1x1 -> {kernel} (paper: 5x5; torchvision issue #906)")
    if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
        found.append("batch norm after every convolution (paper: none)")
    if not any(isinstance(m, nn.LocalResponseNorm) for m in model.modules()):
        found.append("no local response normalisation (paper: after pool1 and conv3)")
    pool4 = mods["maxpool4"]
    if (pool4.kernel_size, pool4.stride) != (3, 2):
        k, s = pool4.kernel_size, pool4.stride
        found.append(f"maxpool4 is {k}x{k}/{s} (paper: 3x3/2)")
    widths_match = all(
        (
            _out_channels(mods[f"{m}.branch1"]),
            _in_reduce(mods[f"{m}.branch2"]),
            _out_channels(mods[f"{m}.branch2"]),
            _in_reduce(mods[f"{m}.branch3"]),
            _out_channels(mods[f"{m}.branch3"]),
            _out_channels(mods[f"{m}.branch4"]),
        )
        == row
        for m, row in GOOGLENET_TABLE1.items()
    )
    found.append("branch widths as in Table 1" if widths_match else "branch widths differ")
    return found


def inception_v3_deviations(model: nn.Module) -> list[str]:
    """How a torchvision Inception-v3 deviates from Szegedy et al. 2016 (Fig. 5, the module
    of Mixed_5b-5d: 1x1; 1x1 -> 3x3; 1x1 -> 3x3 -> 3x3; pool -> 1x1), read off its modules."""
    found = []
    kernels = {
        _kernel(m.branch5x5_2)
        for m in model.modules()
        if type(m).__name__ == "InceptionA" and hasattr(m, "branch5x5_2")
    }
    if kernels and kernels != {(3, 3)}:
        kernel = "x".join(map(str, sorted(kernels)[0]))
        found.append(f"InceptionA's second branch is 1x1 -> {kernel} (paper Fig. 5: 1x1 -> 3x3)")
    return found
