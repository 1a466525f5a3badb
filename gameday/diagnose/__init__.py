"""``gameday diagnose``: the runbook's diagnosis steps 1-3, automated, with a root-cause verdict.

- :mod:`gameday.diagnose.evidence` collects (through the Target interface, concurrently, with timeouts),
- :mod:`gameday.diagnose.rules` decides (a pure function of the evidence), from the facts of
  :mod:`~gameday.diagnose.facts` and the recent changes of :mod:`~gameday.diagnose.changes`, into one of the
  :mod:`~gameday.diagnose.verdicts` with the evidence lines of :mod:`~gameday.diagnose.lines`,
- :mod:`gameday.diagnose.resolution` names the runbook's resolution and this target's commands,
- :mod:`gameday.diagnose.scoring` scores verdicts against injected faults for the game day.
"""

from gameday.diagnose.diagnosis import Diagnosis, diagnose, load_runbook
from gameday.diagnose.evidence import Evidence, collect
from gameday.diagnose.rules import KINDS, TITLES, Verdict, decide
from gameday.diagnose.scoring import ConfusionMatrix, confusion_matrix

__all__ = [
    "KINDS",
    "TITLES",
    "ConfusionMatrix",
    "Diagnosis",
    "Evidence",
    "Verdict",
    "collect",
    "confusion_matrix",
    "decide",
    "diagnose",
    "load_runbook",
]
