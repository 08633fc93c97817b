"""docs/EXPERIMENTS.md read as a script: its experiments, each with the run.py line that starts
its cluster and its `lvs` blocks, each a list of commands with the output the page shows; and the
page's way of matching an output (a `*` in a line stands for anything, a line `...` for any
number of lines). Pure: tests/unit/test_experiments_page.py checks the reading, and
tests/emulation/test_experiments.py runs the page."""
import re
import shlex
from dataclasses import dataclass, field
from typing import List, Tuple

PROMPT = "lvs> "
ANY_LINES = "..."
RUN_PY = "sudo python topologies/run.py"


@dataclass
class Experiment:
    title: str
    run_flags: List[str]                        # run.py's flags for its cluster
    steps: List[Tuple[str, List[str]]] = field(default_factory=list)   # (command, the output shown)


def experiments(page: str) -> List[Experiment]:
    """The page's experiments in order; one without its own run.py line uses the previous one's."""
    found: List[Experiment] = []
    flags: List[str] = []
    for section in re.split(r"^## ", page, flags=re.M)[1:]:
        title = section.splitlines()[0]
        for info, body in re.findall(r"^```(\w*)\n(.*?)^```", section, flags=re.M | re.S):
            if info == "sh" and body.startswith(RUN_PY):
                flags = shlex.split(body.strip()[len(RUN_PY):])
            elif info == "lvs":
                if not found or found[-1].title != title:
                    found.append(Experiment(title, flags))
                found[-1].steps += steps(body)
    return found


def steps(block: str) -> List[Tuple[str, List[str]]]:
    """An `lvs` block's commands, each with the lines shown after it."""
    said: List[Tuple[str, List[str]]] = []
    for line in block.splitlines():
        if line.startswith(PROMPT):
            said.append((line[len(PROMPT):], []))
        elif said:
            said[-1][1].append(line)
        else:
            raise ValueError("an lvs block must start with a command (%r), not %r" % (PROMPT, line))
    return said


def _line_pattern(shown: str) -> "re.Pattern[str]":
    return re.compile("^" + ".*".join(re.escape(part) for part in shown.split("*")) + "$")


def matches(shown: List[str], output: List[str]) -> bool:
    """Whether the output is what the page shows: line by line, `*` matching anything within a
    line and a line `...` any number of lines (trailing spaces aside, as a terminal shows)."""
    output = [line.rstrip() for line in output]
    shown = [line.rstrip() for line in shown]

    def match(i: int, j: int) -> bool:
        if i == len(shown):
            return j == len(output)
        if shown[i] == ANY_LINES:
            return any(match(i + 1, k) for k in range(j, len(output) + 1))
        return j < len(output) and bool(_line_pattern(shown[i]).match(output[j])) and match(i + 1, j + 1)
    return match(0, 0)
