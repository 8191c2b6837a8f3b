"""After a run: who hears what (decide.py), in which words (wording.py), sent and
recorded (announce.py)."""
