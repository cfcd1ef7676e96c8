"""Brain-guided training (Li et al. 2019, "Learning from brains how to regularize machines").

The network is trained on task loss + lambda x a similarity mismatch: over the image pairs of
each batch, the similarity of a layer's representations is pulled towards the neural
similarity of the same images. As in Li et al., a representation's similarity is the cosine
similarity of its centred responses (each feature centred over the images; neural responses
z-scored per unit over the image set), and the mismatch is the mean squared difference of
their Fisher z-transforms (arctanh) over the pairs i < j. With several layers the model's
similarity is their mean.

The neural similarity comes from a fitted encoding model's predicted (denoised) responses,
so any image has one, or from measured RDMs over a fixed stimulus set (e.g. the Allen Brain
Observatory's). The control regulariser uses the same target with the image identities
shuffled (a fixed permutation of the training images), so the extra loss alone is not
credited for what the brain provides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

EPS = 1e-6  # similarities are clipped to [-1 + EPS, 1 - EPS] before arctanh


def response_similarity(responses: np.ndarray) -> np.ndarray:
    """Cosine similarity of images' response vectors, each unit z-scored over the images."""
    r = np.asarray(responses, dtype=np.float64)
    z = (r - r.mean(0)) / np.where(r.std(0) > 0, r.std(0), 1.0)
    norm = np.linalg.norm(z, axis=1, keepdims=True)
    z = z / np.where(norm > 0, norm, 1.0)
    return np.clip(z @ z.T, -1.0, 1.0)


def layer_similarity(activations: torch.Tensor) -> torch.Tensor:
    """Cosine similarity (batch x batch) of a batch's centred, flattened activations."""
    x = activations.flatten(1)
    x = x - x.mean(0, keepdim=True)
    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return x @ x.T


def fisher_z(similarity: torch.Tensor) -> torch.Tensor:
    """arctanh of similarities clipped away from +-1."""
    return torch.atanh(similarity.clamp(-1 + EPS, 1 - EPS))


def similarity_loss(model_similarity: torch.Tensor, target_z: torch.Tensor) -> torch.Tensor:
    """Mean squared Fisher-z difference over the pairs i < j (0 when the similarities agree)."""
    n = model_similarity.shape[0]
    i, j = torch.triu_indices(n, n, offset=1, device=model_similarity.device)
    diff = fisher_z(model_similarity)[i, j] - target_z[i, j]
    return (diff**2).mean()


def shuffled_identities(n: int, members: np.ndarray, seed: int) -> np.ndarray:
    """A permutation of range(n) that shuffles only `members` among themselves."""
    perm = np.arange(n)
    rng = np.random.default_rng([seed, 17])
    perm[members] = members[rng.permutation(members.size)]
    return perm


def rsa(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation of the upper triangles (i < j) of two similarity matrices."""
    iu = np.triu_indices(a.shape[0], 1)
    return float(stats.spearmanr(a[iu], b[iu])[0])


@dataclass
class NeuralTarget:
    """The target similarity over a set of images, and which images regularise / test.

    `images` are the target images (uint8); `similarity` their neural similarity; `train` the
    images whose pairs enter the loss, `test` the held-out images on which the layer's RSA
    with the target is measured. `same_images` says the target images are the classification
    training set (index i of the target = index i of the stimulus set), so each task batch's
    own pairs are used, as in Li et al.
    """

    images: np.ndarray
    similarity: np.ndarray
    train: np.ndarray
    test: np.ndarray
    same_images: bool
    description: str

    def fingerprint(self) -> str:
        """A hash of the target: what a resumed run must find unchanged."""
        h = hashlib.sha256(np.ascontiguousarray(self.similarity, dtype=np.float64).tobytes())
        for part in (self.train, self.test):
            h.update(np.ascontiguousarray(part, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(self.images).tobytes())
        return h.hexdigest()

    def controlled(self, seed: int) -> NeuralTarget:
        """The control: the same similarity with the training images' identities shuffled."""
        perm = shuffled_identities(len(self.similarity), self.train, seed)
        return NeuralTarget(
            self.images,
            self.similarity[np.ix_(perm, perm)],
            self.train,
            self.test,
            self.same_images,
            self.description + ", image identities shuffled (control)",
        )


class LayerTap:
    """Forward hooks keeping the outputs of the regularised layers during the forward pass."""

    def __init__(self, model: torch.nn.Module, layers: Sequence[str]):
        modules = dict(model.named_modules())
        missing = [name for name in layers if name not in modules or not name]
        if missing:
            valid = [n for n in modules if n]
            raise ValueError(
                f"neural_similarity.layers {missing} are not layers of the network; its "
                f"layers: {', '.join(valid)}"
            )
        self.outputs: dict[str, torch.Tensor] = {}
        self.handles = [modules[n].register_forward_hook(self._keep(n)) for n in layers]
        self.layers = list(layers)

    def _keep(self, name: str):
        def hook(_module, _args, output):
            self.outputs[name] = output if torch.is_tensor(output) else output[0]

        return hook

    def similarity(self) -> torch.Tensor:
        """The mean similarity of the tapped layers' last outputs."""
        sims = [layer_similarity(self.outputs[n]) for n in self.layers]
        return torch.stack(sims).mean(0)

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
