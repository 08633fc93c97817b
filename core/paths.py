"""Where the project's tree is: the one place that works it out, for the programs it starts,
the files it reads (README, docs) and the logs it writes."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
