"""pytest settings for executing the chapters with nbval (``make notebooks``)."""
from nbval.plugin import IPyNbCell

#: nbval waits a fixed 5 s for a cell's outputs once the kernel has said the cell finished (nbval issues
#: #136 and #231 ask for a setting). On a busy 2-core machine that wait once ran out after chapter 09's
#: training cell, which passed when run again alone: a stall, not an error. A minute still catches a hung
#: kernel.
OUTPUT_TIMEOUT_S = 60


def pytest_collection_modifyitems(items):
    for item in items:
        if isinstance(item, IPyNbCell):
            item.output_timeout = OUTPUT_TIMEOUT_S
