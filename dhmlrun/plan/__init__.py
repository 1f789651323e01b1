"""Planning: declaration vs platform state -> Plan (data). Never writes to the platform."""

from dhmlrun.plan.builder import build_destroy_plan, build_plan
from dhmlrun.plan.model import Action, AttributeChange, Plan

__all__ = ["Action", "AttributeChange", "Plan", "build_destroy_plan", "build_plan"]
