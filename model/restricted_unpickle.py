"""Read a PyTorch `.th`/`.pt` file (a pickle) without ever running code from it.

A pickle names the functions and classes it needs ("globals") and may call them while loading,
which is how a malicious file runs code. `load_restricted` lets torch.load parse the container
(zip or legacy format) but resolves every global through `RestrictedUnpickler.find_class`:

- tensor rebuilding functions and plain containers (ALLOWED) are returned as they are;
- the model classes a checkpoint names (PLACEHOLDERS: Demucs and its relatives) become a
  `NamedClass` record that holds only the dotted name: it cannot be called, so nothing of the
  class runs, and the caller decides from the name what the file is;
- anything else raises `UnsafePickleError` before it is resolved (nothing is imported).

Storage types are resolved by torch itself (it maps names such as "FloatStorage" to dtypes).
"""

from __future__ import annotations

import collections
import fractions
import pickle
import types
import warnings
from pathlib import Path
from typing import Any

import torch
import torch._utils


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list; `.name` is "module.qualname"."""

    def __init__(self, name: str) -> None:
        super().__init__(f"it names {name}, which a model checkpoint never needs")
        self.name = name


class NamedClass:
    """Stands in for a class named by a checkpoint (e.g. "demucs.demucs.Demucs"); not callable."""

    __slots__ = ("qualname",)

    def __init__(self, qualname: str) -> None:
        self.qualname = qualname

    @property
    def __name__(self) -> str:  # torch's legacy format reports a class by its name
        return self.qualname.rsplit(".", 1)[-1]

    def __repr__(self) -> str:
        return f"<class {self.qualname} (not loaded)>"


#: globals returned as they are: what torch.save writes for tensors and state dicts
ALLOWED: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch", "Size"): torch.Size,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("fractions", "Fraction"): fractions.Fraction,  # HTDemucs keeps its segment as a Fraction
}

#: classes that Demucs checkpoints name; they become NamedClass records
PLACEHOLDERS = frozenset({
    ("demucs.model", "Demucs"),           # Demucs v2 (demucs 2.x)
    ("demucs.demucs", "Demucs"),          # Demucs v3/v4 waveform class
    ("demucs.hdemucs", "HDemucs"),        # v3 hybrid
    ("demucs.htdemucs", "HTDemucs"),      # v4 hybrid transformer
    ("demucs.tasnet", "ConvTasNet"),
    ("demucs.tasnet_v2", "ConvTasNet"),
    ("demucs.wdemucs", "WDemucs"),
})


class RestrictedUnpickler(pickle.Unpickler):
    """pickle.Unpickler whose globals come only from ALLOWED and PLACEHOLDERS."""

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        if key in ALLOWED:
            return ALLOWED[key]
        if key in PLACEHOLDERS:
            return NamedClass(f"{module}.{name}")
        raise UnsafePickleError(f"{module}.{name}")


def _load(file, **kwargs: Any) -> Any:
    return RestrictedUnpickler(file, **kwargs).load()


#: the `pickle_module` handed to torch.load: torch uses its Unpickler and load
restricted_pickle = types.ModuleType("stemdeck_restricted_pickle")
restricted_pickle.Unpickler = RestrictedUnpickler  # type: ignore[attr-defined]
restricted_pickle.load = _load  # type: ignore[attr-defined]
restricted_pickle.UnpicklingError = pickle.UnpicklingError  # type: ignore[attr-defined]


def load_restricted(path: Path) -> Any:
    """torch.load(path) on the CPU through RestrictedUnpickler. Raises UnsafePickleError for a
    global outside the allow-list, and whatever torch/pickle raise for a damaged file."""
    with warnings.catch_warnings():  # the legacy format warns that it cannot check a class's source
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", pickle_module=restricted_pickle, weights_only=False)
