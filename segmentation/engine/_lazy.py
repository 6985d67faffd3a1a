"""Lazy public names for the engine's packages (PEP 562), as ``lazy_loader.attach`` does.

A package lists which private module defines each public name; a name's module is imported
on first use. Importing the package itself then costs nothing: the web server can read
:data:`segmentation.engine.METHODS` without loading numpy, scikit-learn or torch.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence


def attach(package: str, api: Mapping[str, Sequence[str]], *, subpackages: Sequence[str] = ()
           ) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` of ``package``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    api : mapping module -> names
        Each public name under the (relative) module that defines it; a name appears once.
    subpackages : sequence of str
        Sub-packages that are public as a whole (imported on first use).

    Returns
    -------
    __getattr__, __dir__, __all__
    """
    where = {name: module for module, names in api.items() for name in names}
    if len(where) != sum(len(names) for names in api.values()):
        raise ValueError(f"{package}: a public name is listed under two modules")
    clash = set(where) & {m.split(".")[0] for m in api}
    if clash:
        # Importing that module would overwrite the package attribute with the module.
        raise ValueError(f"{package}: public names {sorted(clash)} are also module names")
    public = sorted([*where, *subpackages])

    def __getattr__(name: str):
        if name in subpackages:
            return importlib.import_module(f"{package}.{name}")
        try:
            module = where[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}; its public "
                                 f"names are {package}.__all__") from None
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        # Cache it on the package: later look-ups are plain attribute reads.
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(public))

    return __getattr__, __dir__, public
