import sys

from leafgen.cli import main

sys.exit(main())
