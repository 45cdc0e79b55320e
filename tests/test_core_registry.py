"""The one registry helper and the registries built on it (encoders, stores, writers, detectors)."""

from __future__ import annotations

import sys
import types

import pytest

from fashionrag.core.errors import InvalidInputError, ModelUnavailableError
from fashionrag.core.registry import Registry


def test_register_create_names_and_unknown_name():
    reg: Registry[str] = Registry("widget")

    @reg.register("b")
    def make_b(x=1):
        return f"b{x}"

    reg.register("a", lambda: "a")
    assert reg.names() == ["a", "b"] and "a" in reg and "c" not in reg
    assert reg.create("b", x=3) == "b3" and reg.get("a")() == "a"
    with pytest.raises(InvalidInputError, match=r"unknown widget 'c'; use one of: a, b"):
        reg.create("c")
    with pytest.raises(ValueError):
        reg.register("")


def test_builtins_are_imported_once_on_first_lookup(monkeypatch):
    reg: Registry[str] = Registry("gadget", builtins=["_fake_gadget_backend"], error=ModelUnavailableError, hint="(see docs)")
    loaded = []
    mod = types.ModuleType("_fake_gadget_backend")

    def _exec():
        loaded.append(1)
        reg.register("g", lambda: "g")

    # a module whose import registers a backend, as the real backend files do
    class Finder:
        def find_spec(self, name, path=None, target=None):
            if name != "_fake_gadget_backend":
                return None
            import importlib.machinery

            class Loader:
                def create_module(self, spec):
                    return mod

                def exec_module(self, module):
                    _exec()

            return importlib.machinery.ModuleSpec(name, Loader())

    monkeypatch.setattr(sys, "meta_path", [Finder(), *sys.meta_path])
    monkeypatch.delitem(sys.modules, "_fake_gadget_backend", raising=False)
    assert loaded == []  # nothing imported at construction
    assert reg.names() == ["g"] and reg.create("g") == "g" and reg.names() == ["g"]
    assert loaded == [1]
    with pytest.raises(ModelUnavailableError, match=r"unknown gadget 'x'; use one of: g \(see docs\)"):
        reg.get("x")


def test_project_registries_list_their_backends():
    from fashionrag import encoders, stores, writers
    from fashionrag.vision.detectors import DETECTORS

    assert {"hf", "lite", "openclip", "tiny"} <= set(encoders.ENCODERS.names())
    assert "faiss" in stores.STORES.names()
    assert {"template", "openai", "transformers"} <= set(writers.WRITERS.names())
    assert {"pose", "yolo"} <= set(DETECTORS.names())
    with pytest.raises(ModelUnavailableError, match="unknown encoder"):
        encoders.create("nope:thing")
    with pytest.raises(InvalidInputError, match="unknown store 'nope'"):
        stores.create("nope")
    with pytest.raises(ModelUnavailableError, match="unknown writer 'nope'"):
        writers.create("nope")


def test_cli_choices_come_from_the_registries(capsys):
    from fashionrag import writers
    from fashionrag.cli import main

    with pytest.raises(SystemExit):
        main(["caption", "x.jpg", "--writer", "nope"])
    err = capsys.readouterr().err
    for name in writers.available():
        assert name in err
