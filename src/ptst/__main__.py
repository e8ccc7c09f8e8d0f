import sys

from ptst.cli.main import main

sys.exit(main())
