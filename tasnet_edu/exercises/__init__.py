"""Checked exercises, one module per chapter (``tasnet_edu.exercises.ch03`` …).

Each module has ``check_<name>(answer)`` functions that raise ``AssertionError`` with a hint when the
reader's answer is wrong and print a short confirmation when it is right. The reference solutions live
beside the checks (``_solution_<name>``) and are exercised by the tests, not printed in the notebooks.
"""
