"""`python -m problems.maxsat solve FILE`: an incomplete-track MaxSAT solver command (MSE 2022 output)."""

from problems.maxsat.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
