"""Record: a value class, immutable unless made with `frozen=False`.

`@dataclass` writes and compiles the source of each method of each class it decorates,
~0.6 ms a class here: for distill's ~50 such classes, 25-40 ms of every start, which a
no-op build cannot spare. A Record's fields are read once when its class is made and one
generic `__init__`, `__eq__`, `__hash__` and `__repr__` serve every class. Types made by the
thousand (a tar entry, a COPY item) are plain classes with their own `__init__`.

Fields are the class's annotations in order, base classes' first; a class attribute of the
same name is the field's default, `fresh(list)` a default made anew for each record.
`_uncompared` names fields left out of equality and hashing."""

from __future__ import annotations

_MISSING = object()


class FrozenError(AttributeError):
    pass


class fresh:
    """A default made anew for each record (a list, a dict)."""

    __slots__ = ("make",)

    def __init__(self, make):
        self.make = make


def _refuse(self, name, value=None):
    raise FrozenError(f"cannot assign to field {name!r} of a {type(self).__name__}")


class Record:
    _fields: tuple[str, ...] = ()
    _defaults: dict = {}
    _compared: tuple[str, ...] = ()
    _uncompared: frozenset = frozenset()
    _frozen = True

    def __init_subclass__(cls, frozen: bool | None = None, **kw):
        super().__init_subclass__(**kw)
        own = [n for n in cls.__dict__.get("__annotations__", {}) if n not in cls._fields]
        cls._fields = cls._fields + tuple(own)
        cls._defaults = {**cls._defaults, **{n: cls.__dict__[n] for n in own if n in cls.__dict__}}
        for before, name in zip(cls._fields, cls._fields[1:]):
            if before in cls._defaults and name not in cls._defaults:
                raise TypeError(f"{cls.__name__}: field {name!r} without a default follows one with")
        cls._compared = tuple(n for n in cls._fields if n not in cls._uncompared)
        if frozen is not None:
            cls._frozen = frozen
        cls.__setattr__ = _refuse if cls._frozen else object.__setattr__
        cls.__delattr__ = _refuse if cls._frozen else object.__delattr__
        cls.__hash__ = Record.__hash__ if cls._frozen else None
        cls.__match_args__ = cls._fields

    def __init__(self, *args, **kwargs):
        cls = type(self)
        fields = cls._fields
        if len(args) > len(fields):
            raise TypeError(f"{cls.__name__}() takes {len(fields)} arguments but {len(args)} were given")
        values = dict(zip(fields, args))
        for name, value in kwargs.items():
            if name in values or name not in cls._defaults and name not in fields:
                raise TypeError(f"{cls.__name__}() got an unexpected or repeated argument {name!r}")
            values[name] = value
        if len(values) < len(fields):
            for name in fields:
                if name not in values:
                    default = cls._defaults.get(name, _MISSING)
                    if default is _MISSING:
                        raise TypeError(f"{cls.__name__}() missing argument {name!r}")
                    values[name] = default.make() if type(default) is fresh else default
        object.__setattr__(self, "__dict__", values)

    def _key(self) -> tuple:
        d = self.__dict__
        return tuple(d[n] for n in self._compared)

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        d = self.__dict__
        return f"{type(self).__name__}({', '.join(f'{n}={d[n]!r}' for n in self._fields)})"

    def replace(self, **changes):
        """A copy with some fields changed."""
        return type(self)(**{**{n: self.__dict__[n] for n in self._fields}, **changes})
