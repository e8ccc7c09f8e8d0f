import sys

from ptst.cli.main import main

if __name__ == "__main__":  # engines that start worker processes with spawn (vLLM) import this module again
    sys.exit(main())
