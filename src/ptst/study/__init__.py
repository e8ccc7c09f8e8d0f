"""Studies: a config that composes the stages, its plan of cells with content-hash identities, the resumable
runner and the manifest."""

from ptst.study.config import StudyConfig, load_study_config
from ptst.study.plan import Plan, build_plan
from ptst.study.runner import run_study

__all__ = ["Plan", "StudyConfig", "build_plan", "load_study_config", "run_study"]
