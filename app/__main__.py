"""`python -m app`: the same as `backprop-lab serve` ($HOST:$PORT, 127.0.0.1:8000 by default)."""

from app.cli import main

if __name__ == "__main__":
    main()
