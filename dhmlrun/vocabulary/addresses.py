"""Addresses: `TYPE.NAME`, how a declared resource, the plan's action on it and the platform's
entity it becomes are named (`dataitems.employees`, `runs.download`; the project is `project`).

A value parsed once (Terraform's `addrs`): code that needs the type or the name of an address
asks an `Address`, never splits the string again.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Address:
    type: str
    name: str

    @classmethod
    def parse(cls, text: str) -> Address:
        """`functions.train` -> (functions, train); an address without a type (`project`) is its
        own type and name."""
        type_, dot, name = str(text).partition(".")
        return cls(type_, name) if dot else cls(type_, type_)

    def __str__(self) -> str:
        return self.type if self.name == self.type else f"{self.type}.{self.name}"
