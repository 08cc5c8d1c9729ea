"""``alphapulse up``: one supervisor for the local stack, driven by a plan (configuration), not code."""

from alphapulse.supervisor.plan import ProcessSpec, StackOptions, build_plan, load_stack_file
from alphapulse.supervisor.process import Supervisor

__all__ = ("ProcessSpec", "StackOptions", "Supervisor", "build_plan", "load_stack_file")
