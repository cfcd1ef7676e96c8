"""Networks by name (torchvision, timm), their preprocessing, and layer listing/selection."""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torchvision
from torchvision.transforms._presets import ImageClassification
from torchvision.transforms.functional import InterpolationMode

from brainreps import branches, nets
from brainreps.hooks import blank_forward

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_INPUT_SIZE = 224
LAYER_KINDS = ("all", "leaves", "blocks")
_MAX_LISTED = 60  # an error message lists every valid name up to this many


class Preprocess:
    """Map a uint8 image batch (N,H,W) or (N,H,W,C) to the float tensor (N,3,S,S) a network expects.

    Grayscale images are replicated to 3 channels, an alpha channel is dropped; then the
    torchvision ImageClassification preset: resize the shorter side to `resize_size`, centre
    crop `crop_size`, scale to [0, 1] and normalise with `mean`/`std`. Float input is taken
    to be in [0, 1] already.
    """

    def __init__(
        self,
        crop_size: int,
        resize_size: int | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        interpolation: str = "bilinear",
    ) -> None:
        self.crop_size = int(crop_size)
        self.resize_size = int(resize_size or crop_size)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.interpolation = str(interpolation)
        self._transform = ImageClassification(
            crop_size=self.crop_size,
            resize_size=self.resize_size,
            mean=self.mean,
            std=self.std,
            interpolation=InterpolationMode(self.interpolation),
        )

    def __call__(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Preprocess one batch of images; see the class docstring."""
        if torch.is_tensor(images):
            x = images
        else:
            arr = np.ascontiguousarray(images)
            x = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
        if x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4:
            raise ValueError(
                f"images must have shape (N, H, W) or (N, H, W, C); got {tuple(x.shape)}"
            )
        channels = x.shape[-1]
        if channels == 1:
            x = x.expand(-1, -1, -1, 3)
        elif channels == 4:
            x = x[..., :3]
        elif channels != 3:
            raise ValueError(
                f"images must have 1, 3 or 4 channels (last axis); got shape {tuple(x.shape)}"
            )
        x = x.permute(0, 3, 1, 2).contiguous()
        if x.dtype != torch.uint8 and not x.is_floating_point():
            raise ValueError(f"images must be uint8 (0-255) or float (0-1); got {x.dtype}")
        if x.is_floating_point():
            x = x.float()
        return self._transform(x).contiguous()

    def as_dict(self) -> dict[str, Any]:
        """The settings, for provenance."""
        return {
            "crop_size": self.crop_size,
            "resize_size": self.resize_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": self.interpolation,
        }

    def __repr__(self) -> str:
        return f"Preprocess({self.as_dict()})"


# ---------------------------------------------------------------------------------------------
# model lookup


def _timm():
    try:
        import timm
    except ImportError:  # pragma: no cover - timm is pinned in requirements.txt
        return None
    return timm


def resolve_arch(arch: str) -> tuple[str, str]:
    """(library, name) for a model name: torchvision, timm ('timm/NAME' forces it) or one of
    brainreps' own small networks ('brainreps/NAME', see brainreps.nets)."""
    if arch.startswith(nets.PREFIX):
        name = arch[len(nets.PREFIX) :]
        if name not in nets.NETS:
            raise ValueError(
                f"unknown model {arch!r}; brainreps networks: "
                + ", ".join(nets.PREFIX + n for n in nets.NETS)
            )
        return "brainreps", name
    if arch.startswith("timm/"):
        timm = _timm()
        name = arch[len("timm/") :]
        if timm is None:
            raise ValueError(f"model {arch!r} needs timm, which is not installed")
        base = name.split(".", 1)[0]
        if base not in timm.list_models():
            raise ValueError(_unknown_model_message(arch))
        return "timm", name
    if arch in torchvision.models.list_models():
        return "torchvision", arch
    timm = _timm()
    if timm is not None and arch.split(".", 1)[0] in timm.list_models():
        return "timm", arch
    raise ValueError(_unknown_model_message(arch))


def available_models() -> list[str]:
    """Every model name load_model accepts: torchvision names, then timm names as 'timm/NAME'."""
    names = sorted(torchvision.models.list_models()) + [nets.PREFIX + n for n in nets.NETS]
    timm = _timm()
    if timm is not None:
        names += [f"timm/{n}" for n in timm.list_models()]
    return names


def _unknown_model_message(arch: str) -> str:
    tv = sorted(torchvision.models.list_models())
    timm = _timm()
    pool = tv + ([f"timm/{n}" for n in timm.list_models()] if timm is not None else [])
    close = difflib.get_close_matches(arch, pool, n=8, cutoff=0.5)
    msg = f"unknown model {arch!r}"
    if close:
        msg += f"; closest: {', '.join(close)}"
    msg += f". torchvision models: {', '.join(tv)}"
    if timm is not None:
        msg += " (plus any timm model as 'timm/NAME'; list them with timm.list_models())"
    return msg


def _torchvision_weights(arch: str, weights: str):
    """The torchvision weights enum member for 'default' or a name like IMAGENET1K_V1."""
    enum = torchvision.models.get_model_weights(arch)
    if weights == "default":
        return enum.DEFAULT
    name = weights.split(".", 1)[1] if weights.startswith(enum.__name__ + ".") else weights
    try:
        return enum[name]
    except KeyError:
        valid = ["none", "default", *enum.__members__]
        raise ValueError(
            f"unknown weights {weights!r} for model {arch!r}; valid: {', '.join(valid)}"
        ) from None


def _timm_name(name: str, weights: str) -> str:
    if weights in ("none", "default"):
        return name
    return f"{name.split('.', 1)[0]}.{weights}"


def load_model(
    arch: str,
    weights: str = "none",
    seed: int = 0,
    input_size: int | None = None,
    num_classes: int | None = None,
    arch_params: Mapping[str, Any] | None = None,
) -> tuple[torch.nn.Module, Callable[[np.ndarray], torch.Tensor]]:
    """A network in eval mode and the preprocessing its weights expect.

    `weights`: "none" (random init, seeded by `seed`), "default" (the library's default
    pretrained weights, downloaded into its cache) or a weights name (torchvision enum member
    such as IMAGENET1K_V1, or a timm pretrained tag). `input_size` overrides the crop size
    (default: the weights' own, 224 for random weights). `num_classes` sizes the read-out of a
    randomly initialised network (default: the library's, 1000 for brainreps networks);
    `arch_params` configure a brainreps network.
    """
    library, name = resolve_arch(arch)
    weights = str(weights or "none")
    if weights != "none" and library == "brainreps":
        raise ValueError(f"model {arch!r} has no pretrained weights; use a weights_file")
    extra = {} if num_classes is None else {"num_classes": int(num_classes)}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if library == "brainreps":
            model = nets.build_net(name, int(num_classes or 1000), arch_params)
            crop = input_size or DEFAULT_INPUT_SIZE
            preprocess = Preprocess(crop, crop)
        elif library == "torchvision":
            if weights == "none":
                model = torchvision.models.get_model(name, weights=None, **extra)
                crop = input_size or DEFAULT_INPUT_SIZE
                preprocess = Preprocess(crop, crop)
            else:
                w = _torchvision_weights(name, weights)
                model = torchvision.models.get_model(name, weights=w)
                t = w.transforms()
                crop = int(t.crop_size[0])
                resize = int(t.resize_size[0])
                if input_size:  # keep the weights' resize/crop ratio
                    resize = round(resize * input_size / crop)
                    crop = input_size
                preprocess = Preprocess(
                    crop, resize, t.mean, t.std, InterpolationMode(t.interpolation).value
                )
        else:
            timm = _timm()
            pretrained = weights != "none"
            model = timm.create_model(
                _timm_name(name, weights), pretrained=pretrained, **({} if pretrained else extra)
            )
            cfg = timm.data.resolve_data_config({}, model=model)
            crop = int(cfg["input_size"][-1]) if pretrained else DEFAULT_INPUT_SIZE
            crop_pct = float(cfg.get("crop_pct", 1.0)) if pretrained else 1.0
            if input_size:
                crop = input_size
            interp = cfg.get("interpolation", "bilinear") if pretrained else "bilinear"
            if interp not in ("bilinear", "bicubic", "nearest"):
                interp = "bilinear"
            mean = cfg["mean"] if pretrained else IMAGENET_MEAN
            std = cfg["std"] if pretrained else IMAGENET_STD
            preprocess = Preprocess(crop, int(np.floor(crop / crop_pct)), mean, std, interp)
    model.eval()
    model._brainreps_input_size = preprocess.crop_size
    model._brainreps_arch = arch
    return model, preprocess


def _readout_classes(model: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> int | None:
    """The number of classes a state dict's last linear layer has, if it differs from `model`'s."""
    linears = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        return None
    key = f"{linears[-1]}.weight"
    own = dict(model.named_modules())[linears[-1]].out_features
    if key in state and state[key].ndim == 2 and state[key].shape[0] != own:
        return int(state[key].shape[0])
    return None


def load_model_file(
    arch: str,
    path: str | os.PathLike,
    input_size: int | None = None,
    arch_params: Mapping[str, Any] | None = None,
) -> tuple[torch.nn.Module, Callable[[np.ndarray], torch.Tensor]]:
    """A network of a known architecture with the weights of a file: a brainreps checkpoint, a
    state dict or a TorchScript module (its state dict). A file saved from another
    architecture is an error naming both."""
    from brainreps.checkpoints import CheckpointError, load_state, read_model_file

    payload = read_model_file(path)
    saved_arch = payload.get("arch")
    if saved_arch is not None and saved_arch != arch:
        raise CheckpointError(
            f"{path} is a checkpoint of architecture {saved_arch}, not of {arch}: "
            "name the architecture it was trained with"
        )
    if arch_params is None:
        arch_params = payload.get("arch_params")
    size = input_size or payload.get("input_size")
    state = payload["model"]
    model, preprocess = load_model(
        arch, "none", 0, size, num_classes=payload.get("num_classes"), arch_params=arch_params
    )
    classes = payload.get("num_classes") or _readout_classes(model, state)
    if classes and classes != payload.get("num_classes"):
        model, preprocess = load_model(arch, "none", 0, size, classes, arch_params)
    load_state(model, state, arch, path)
    model.eval()
    model._brainreps_weights_file = str(path)
    return model, preprocess


def model_from_spec(spec: Mapping[str, Any]):
    """The network and preprocessing of a models.<name> config entry (defaults filled in);
    the inception modules it names in `branches` have their branches exposed as layers."""
    if spec.get("weights_file"):
        model, preprocess = load_model_file(
            spec["arch"], spec["weights_file"], spec.get("input_size"), spec.get("arch_params")
        )
    else:
        model, preprocess = load_model(
            spec["arch"],
            spec["weights"],
            seed=int(spec["seed"]),
            input_size=spec["input_size"],
            arch_params=spec.get("arch_params"),
        )
    branches.expose(model, spec.get("branches") or [])
    return model, preprocess


def spec_layers(model: torch.nn.Module, spec: Mapping[str, Any]) -> list[str]:
    """The layers a models.<name> entry stores: its layer spec's, plus each exposed inception
    module's input, branches and output (brainreps.branches), in forward order."""
    layers = select_layers(model, spec["layers"])
    size = int(getattr(model, "_brainreps_input_size", DEFAULT_INPUT_SIZE))
    return branches.branch_layers(model, layers, list_layers(model), size)


def prefetch_weights(arch: str, weights: str = "none") -> dict[str, Any]:
    """Download pretrained weights into the library's cache (no-op for weights 'none').

    Returns a description of what was fetched, for the marker file of the fetch rule.
    """
    library, name = resolve_arch(arch)
    weights = str(weights or "none")
    info: dict[str, Any] = {"arch": arch, "weights": weights, "library": library}
    if weights == "none" or library == "brainreps":
        info["fetched"] = None
        return info
    if library == "torchvision":
        w = _torchvision_weights(name, weights)
        w.get_state_dict(progress=False, check_hash=True)
        info["fetched"] = w.url
        info["weights_name"] = f"{type(w).__name__}.{w.name}"
        info["cache"] = torch.hub.get_dir()
    else:
        timm = _timm()
        timm.create_model(_timm_name(name, weights), pretrained=True)
        info["fetched"] = _timm_name(name, weights)
    return info


# ---------------------------------------------------------------------------------------------
# layers


def _first_tensor(value: Any) -> torch.Tensor | None:
    if torch.is_tensor(value):
        return value
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        for v in value:
            t = _first_tensor(v)
            if t is not None:
                return t
    if hasattr(value, "logits") and torch.is_tensor(value.logits):
        return value.logits
    return None


def _call_order(model: torch.nn.Module, input_size: int) -> list[str]:
    """Module names in the order they are first entered during a forward pass."""
    order: list[str] = []
    seen: set[str] = set()
    handles = []

    def make(name):
        def pre_hook(module, args):
            if name not in seen:
                seen.add(name)
                order.append(name)

        return pre_hook

    for name, module in model.named_modules():
        if name:
            handles.append(module.register_forward_pre_hook(make(name)))
    blank_forward(model, input_size, handles)
    return order


def list_layers(model: torch.nn.Module, kind: str = "all") -> list[str]:
    """Names of a model's modules in forward order: all, only leaves, or only blocks (non-leaves).

    The order is that in which modules are first entered in one forward pass on a blank image
    (a block comes before its children); modules a forward pass never calls are left out.
    """
    if kind not in LAYER_KINDS:
        raise ValueError(f"layer kind must be one of {LAYER_KINDS}; got {kind!r}")
    order = getattr(model, "_brainreps_layer_order", None)
    if order is None:
        size = int(getattr(model, "_brainreps_input_size", DEFAULT_INPUT_SIZE))
        try:
            order = _call_order(model, size)
        except Exception as exc:  # a model that cannot run on a blank image: definition order
            logger.warning(
                "forward pass on a blank %dpx image failed (%s); listing layers "
                "in definition order",
                size,
                exc,
            )
            order = [n for n, _ in model.named_modules() if n]
        model._brainreps_layer_order = order
    if kind == "all":
        return list(order)
    modules = dict(model.named_modules())
    leaves = [n for n in order if not any(True for _ in modules[n].children())]
    if kind == "leaves":
        return leaves
    leaf_set = set(leaves)
    return [n for n in order if n not in leaf_set]


def _unknown_layer_message(names: Sequence[str], valid: Sequence[str], model) -> str:
    arch = getattr(model, "_brainreps_arch", type(model).__name__)
    parts = []
    for name in names:
        close = difflib.get_close_matches(name, valid, n=6, cutoff=0.4)
        parts.append(f"{name!r}" + (f" (closest: {', '.join(close)})" if close else ""))
    msg = f"unknown layer {', '.join(parts)} in model {arch}"
    if len(valid) <= _MAX_LISTED:
        msg += f"; valid layers: {', '.join(valid)}"
    else:
        msg += (
            f"; it has {len(valid)} layers: list them with `brainreps layers {arch}` "
            "or brainreps.models.list_layers(model)"
        )
    return msg


def select_layers(model: torch.nn.Module, spec: Any) -> list[str]:
    """Layer names chosen by a spec, in forward order.

    spec: a list of exact module names; a single name;
    {"pattern": REGEX, "of": "all"|"leaves"|"blocks"} (names where the regex matches anywhere,
    in forward order); or {"every": N, "of": "leaves"|"blocks"|"all"} (every Nth name in forward
    order, counting from the Nth, so the last layer of each group of N is taken).
    """
    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, Mapping):
        keys = set(spec)
        of = spec.get("of", "all" if "pattern" in spec else "leaves")
        valid = list_layers(model, of)
        if "pattern" in spec and keys <= {"pattern", "of"}:
            try:
                rx = re.compile(spec["pattern"])
            except re.error as exc:
                raise ValueError(
                    f"layer pattern {spec['pattern']!r} is not a regex: {exc}"
                ) from None
            chosen = [n for n in valid if rx.search(n)]
            if not chosen:
                raise ValueError(
                    f"layer pattern {spec['pattern']!r} matches no {of} layer; "
                    + _unknown_layer_message([spec["pattern"]], valid, model).split("; ", 1)[-1]
                )
            return chosen
        if "every" in spec and keys <= {"every", "of"}:
            every = spec["every"]
            if not isinstance(every, int) or every < 1:
                raise ValueError(f"layer spec 'every' must be a positive integer; got {every!r}")
            chosen = valid[every - 1 :: every]
            if not chosen:
                raise ValueError(f"every {every} of {len(valid)} {of} layers selects nothing")
            return chosen
        raise ValueError(
            f"layer spec {dict(spec)!r} must be a list of names, {{'pattern': REGEX}} or "
            "{'every': N, 'of': 'leaves'|'blocks'}"
        )
    if isinstance(spec, Sequence) and all(isinstance(s, str) for s in spec):
        if not spec:
            raise ValueError("layer spec is an empty list")
        valid = list_layers(model)
        known = set(valid)
        missing = [s for s in spec if s not in known]
        if missing:
            raise ValueError(_unknown_layer_message(missing, valid, model))
        if len(set(spec)) != len(spec):
            raise ValueError(f"layer spec names a layer twice: {list(spec)}")
        position = {n: i for i, n in enumerate(valid)}
        return sorted(spec, key=position.__getitem__)
    raise ValueError(
        f"layer spec must be a list of names, {{'pattern': REGEX}} or {{'every': N, 'of': ...}}; "
        f"got {spec!r}"
    )


@contextlib.contextmanager
def deterministic_torch() -> Any:
    """Ask torch for deterministic kernels (cuDNN) inside the block."""
    old = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = old
