"""What the plugin is running for: read once from the host at start."""

from typing import Dict, Optional

from wit_world.imports import context as _host

from .errors import ParamError


class Context:
    """The run's parameters, school, instance and mode."""

    def __init__(self) -> None:
        school = _host.school()
        self.params: Dict[str, str] = dict(_host.params())
        self.school_id: int = school.account_id
        self.school_name: str = school.name
        self.instance: str = _host.instance()
        self.dry_run: bool = _host.dry_run()
        self.run_id: str = _host.run_id()

    def param(self, name: str) -> Optional[str]:
        """A parameter as text (manifest defaults applied); None when empty."""
        value = self.params.get(name)
        return value if value else None

    def require(self, name: str) -> str:
        """A parameter that must be present."""
        value = self.param(name)
        if value is None:
            raise ParamError(f"parameter {name!r} is required")
        return value

    def param_int(self, name: str) -> Optional[int]:
        """An integer parameter."""
        value = self.param(name)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise ParamError(f"parameter {name!r} must be an integer, got {value!r}") from None

    def param_bool(self, name: str) -> bool:
        """A boolean parameter (true/false), False when absent."""
        value = self.param(name)
        if value in (None, "false"):
            return False
        if value == "true":
            return True
        raise ParamError(f"parameter {name!r} must be true or false, got {value!r}")
