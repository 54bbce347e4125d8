"""Detector settings: the fields of sweepwatch's TOML configuration."""

from __future__ import annotations

import ipaddress
import json
import os
from typing import Any, Dict, Optional, Union

from . import _sweepwatch as _native

#: Every configuration field and its default, as the Rust library has them.
DEFAULTS: Dict[str, Any] = json.loads(_native.config_fields())


def _plain(value: Any) -> Any:
    """`value` as JSON can carry it: addresses and networks as text."""
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address,
                          ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


class Config:
    """Detector settings: the TOML file's fields as keyword arguments.

    Fields left out keep their defaults (:data:`DEFAULTS`); ``path`` reads a
    TOML file first, the keyword arguments go over it. A value out of range
    or of the wrong type raises ``ValueError`` naming the field; a file that
    cannot be read raises ``OSError``.

    >>> Config(min_targets=8, home_networks=["192.0.2.0/24"]).min_targets
    8
    >>> Config(theta1=0.9)
    Traceback (most recent call last):
    ...
    ValueError: invalid configuration: theta1: ...
    """

    __slots__ = ("_given", "_path", "_fields")

    def __init__(self, path: Optional[Union[str, os.PathLike]] = None, **fields: Any) -> None:
        self._path = os.fspath(path) if path is not None else None
        self._given = {k: _plain(v) for k, v in fields.items()}
        try:
            text = json.dumps(self._given, allow_nan=True)
        except TypeError as e:
            raise ValueError(f"invalid configuration: {e}") from None
        self._fields: Dict[str, Any] = json.loads(_native.check_config(text, self._path))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(name) from None

    def to_dict(self) -> Dict[str, Any]:
        """Every field, defaults filled in."""
        return dict(self._fields)

    def _json(self) -> str:
        return json.dumps(self._given, allow_nan=True)

    def replace(self, **fields: Any) -> "Config":
        """A copy with ``fields`` changed."""
        given = dict(self._given)
        given.update(fields)
        return Config(self._path, **given)

    def __repr__(self) -> str:
        args = [repr(self._path)] if self._path else []
        args += [f"{k}={v!r}" for k, v in self._given.items()]
        return f"Config({', '.join(args)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self._fields == other._fields


def config_of(config: Any, home_nets: Any, fields: Dict[str, Any]) -> Config:
    """A :class:`Config` from what ``detect`` and ``Detector`` accept: a
    Config, a path to a TOML file, a dict of fields, or None; then home
    networks and other fields over it."""
    if home_nets is not None:
        if isinstance(home_nets, (str, ipaddress.IPv4Network, ipaddress.IPv6Network)):
            home_nets = [home_nets]
        fields = dict(fields, home_networks=list(home_nets))
    if config is None:
        return Config(**fields)
    if isinstance(config, Config):
        return config.replace(**fields) if fields else config
    if isinstance(config, dict):
        return Config(**dict(config, **fields))
    if isinstance(config, (str, os.PathLike)):
        return Config(config, **fields)
    raise TypeError(f"config: a Config, a dict or a path, not {type(config).__name__}")
