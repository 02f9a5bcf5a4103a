"""Session-wide settings of the test suite."""

import os

# The command line follows the machine's locale (an English LANG switches it to English);
# the suite pins German, the default, so that it asserts the same texts on every machine.
# Tests of the language choice set and clear these variables themselves.
os.environ["ELIGIBILITY_LANG"] = "de"
